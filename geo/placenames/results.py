"""The check result of every place name (the colour of its dot on the place-name map).

A name's result is the most serious of its findings, else a missing sign, else whether it is current;
a cluster of names shows the most serious result among them.

Results, most serious first: ``RESULT_ORDER``. Pure computation over the registry's names and the
findings of ``layers.placenames.registry_findings`` (officers' reviews applied).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from geo.placenames.report import detail_zh
from geo.placenames.signs import sign_worklist
from geo.placenames.tables import default_tables

RESULT_ORDER = ("duplicate", "dayangguai", "other", "missing_sign", "historical", "ok")
"""Check results in priority order: a name shows its most serious result, a cluster the most serious
result among its names."""

# The review flag of each finding code comes from data/placenames/rules.csv (column ``flag``).
FLAG_RESULT = {"重": "duplicate", "大": "dayangguai", "洋": "dayangguai", "怪": "dayangguai"}


def check_results(names: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Per name: ``result`` (a key of RESULTS), ``findings`` (list of dicts) and ``sign_missing``.

    Parameters
    ----------
    names : place names (name_id, name, category, status, sign_present), any index.
    findings : the registry's rule findings, one row per finding (``layers.placenames.registry_findings``:
        name_id, code, reason_zh, rule, detail, group) — the same findings as the officer's report,
        with the legal scope of each category and a road registered in pieces counted once.

    A finding's ``flag`` (大/洋/怪/重/other) is read from the rules table; the result is the most
    serious flag (重 before 大/洋/怪 before other); a name without findings is ``missing_sign``
    when its category needs a sign it lacks, ``historical`` when retired, else ``ok``. Findings
    carry Chinese text only (``reason``, ``detail``, ``rule``).
    """
    tables = default_tables()
    listed: dict[Any, list[dict[str, str]]] = {}
    for r in findings.itertuples():
        rule = tables.rules.get(r.code)
        listed.setdefault(r.name_id, []).append(
            {
                "code": r.code,
                "flag": rule.flag if rule else "other",
                "reason": r.reason_zh,
                "rule": r.rule,
                "detail": detail_zh(r.code, _text(r.detail)),
            }
        )
    per_name = [listed.get(n, []) for n in names["name_id"]]
    status = names["status"] if "status" in names else pd.Series("standard", index=names.index)
    current = names[names["category"].isin(list(tables.categories)) & (status != "historical")]
    signs = current.assign(sign_present=current["sign_present"].fillna(False).astype(bool))
    missing = set(sign_worklist(signs, tables=tables).index)

    def result(found: list[dict[str, str]], i: Any) -> str:
        flagged = [FLAG_RESULT.get(f["flag"], "other") for f in found]
        for key in ("duplicate", "dayangguai", "other"):
            if key in flagged:
                return key
        if i in missing:
            return "missing_sign"
        return "historical" if status[i] == "historical" else "ok"

    return pd.DataFrame(
        {
            "result": [result(f, i) for f, i in zip(per_name, names.index, strict=True)],
            "findings": per_name,
            "sign_missing": [i in missing for i in names.index],
        },
        index=names.index,
    )


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
