"""12345 work orders (工单) from a CSV export into 民情事件: column mapping, every row checked first,
all or nothing.

A file's columns are mapped to the event fields below (default: the Chinese headers of the sample
data/templates/12345工单.csv). Each problem names its row (as a spreadsheet shows it: the header is
row 1), its column and the fix; one problem and nothing is written. Imported events keep their work
order number (``external_ref``), so that the same export imported twice is refused row by row.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from geo.deadlines import BEIJING
from layers import events as store
from layers.errors import ValidationFailed
from pipeline import events as service
from pipeline.errors import TooLarge

SOURCE = "12345"
FIELDS = {
    "external_ref": "工单编号",
    "reported_at": "受理时间",
    "category": "诉求类型",
    "description": "诉求内容",
    "address": "事发地址",
    "lon": "经度",
    "lat": "纬度",
    "phone": "联系电话",
}
"""Event field → its header in the sample file (and the default mapping)."""
REQUIRED = ("external_ref", "reported_at", "category", "description")
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
)
FIELD_LIST = ", ".join(f"{f} ({zh})" for f, zh in FIELDS.items())


def parse_mapping(raw: str | None) -> dict[str, str]:
    """A column mapping (file column → event field) from a JSON object, a JSON file's path or
    ``源列=field`` pairs separated by commas; None or empty: the sample file's headers."""
    if raw is None or not raw.strip():
        return {zh: field for field, zh in FIELDS.items()}
    text = raw.strip()
    if not text.startswith("{") and "=" not in text and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8-sig")
    if text.startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError:
            mapping = None
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise ValidationFailed(
                f"字段映射 mapping {raw[:100]!r} 不是列名的 JSON 对象: 请写成 "
                '{"工单号": "external_ref", "来电时间": "reported_at", ...}'
            )
        return {k.strip(): v.strip() for k, v in mapping.items()}
    mapping = {}
    for pair in text.split(","):
        column, sep, field = pair.partition("=")
        if not sep or not column.strip() or not field.strip():
            raise ValidationFailed(
                f"字段映射 mapping 中的 {pair!r} 不是 源列=字段: 请写成 "
                "工单号=external_ref,来电时间=reported_at"
            )
        mapping[column.strip()] = field.strip()
    return mapping


def _rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV in UTF-8 (with or without BOM) or GB18030 (GBK exports)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any bytes
        raise ValidationFailed("文件编码无法识别: 请另存为 UTF-8 或 GBK 编码的 CSV")
    lines = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not lines:
        raise ValidationFailed("文件是空的: 请上传含表头和工单行的 CSV (样例见 data/templates/12345工单.csv)")
    return [h.strip() for h in lines[0]], lines[1:]


def _columns(header: list[str], mapping: dict[str, str]) -> dict[str, int]:
    """Event field → column index; raises naming an unknown field, a missing column or a required field."""
    unknown = sorted({f for f in mapping.values() if f not in FIELDS})
    if unknown:
        raise ValidationFailed(f"字段映射中的字段 {unknown} 不存在: 可映射的字段为 {FIELD_LIST}")
    absent = [c for c in mapping if c not in header]
    found = {field: header.index(column) for column, field in mapping.items() if column in header}
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        wanted = "、".join(f"{f} ({FIELDS[f]})" for f in missing)
        raise ValidationFailed(
            f"文件缺少必需的列 {wanted}: 文件的列为 {header}"
            + (f", 映射中的列 {absent} 不在文件中" if absent else "")
            + "; 请用 mapping 指明哪一列对应哪个字段, 如 工单号=external_ref"
        )
    return found


def _time(raw: str) -> datetime:
    value = raw.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        for fmt in TIME_FORMATS:
            try:
                moment = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)


def check(
    s: Session,
    settings: service.EventSettings,
    data: bytes,
    mapping: dict[str, str],
    *,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The work orders of a file ready to store, and every problem found (row, column, problem, fix)."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"文件超过 {MAX_BYTES // 1024 // 1024} MB", fix="请分成几个文件分别导入")
    header, lines = _rows(data)
    if len(lines) > MAX_ROWS:
        raise TooLarge(
            f"文件有 {len(lines)} 行工单, 超过一次导入的上限 {MAX_ROWS} 行",
            fix="请按日期分成几个文件分别导入",
        )
    columns = _columns(header, mapping)
    categories, _ = service.tables(settings)
    by_name = {c.name_zh: c.code for c in categories.values()} | {c.code: c.code for c in categories.values()}
    names = "、".join(c.name_zh for c in categories.values())
    now = now or datetime.now(UTC)
    problems: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    seen: dict[str, int] = {}

    def cell(line: list[str], field: str) -> str:
        i = columns.get(field)
        return line[i].strip() if i is not None and i < len(line) else ""

    for n, line in enumerate(lines, start=2):

        def problem(field: str, what: str, fix: str, n: int = n) -> None:
            problems.append(
                {
                    "row": n,
                    "column": header[columns[field]] if field in columns else FIELDS[field],
                    "problem": what,
                    "fix": fix,
                }
            )

        order: dict[str, Any] = {"row": n}
        ref = cell(line, "external_ref")
        if not ref or len(ref) > 40:
            problem("external_ref", f"工单编号 {ref!r} 为空或超过40个字符", "填写12345工单编号")
        elif ref in seen:
            problem("external_ref", f"工单编号 {ref} 与第 {seen[ref]} 行重复", "删除重复的行")
        seen.setdefault(ref, n)
        order["external_ref"] = ref
        try:
            order["reported_at"] = _time(cell(line, "reported_at"))
            if order["reported_at"] > now + timedelta(minutes=10):
                problem("reported_at", f"受理时间 {cell(line, 'reported_at')} 晚于现在", "核对受理时间")
        except ValueError:
            problem(
                "reported_at",
                f"受理时间 {cell(line, 'reported_at')!r} 无法识别",
                "写成 2026-03-01 09:30 或 2026/3/1 9:30 (北京时间)",
            )
        category = cell(line, "category")
        order["category"] = by_name.get(category)
        if order["category"] is None:
            problem(
                "category",
                f"诉求类型 {category!r} 不在事项清单中",
                f"改为 {names} 之一, 或在 data/event_categories.csv 中增补",
            )
        description = cell(line, "description")
        if len(description) < 2 or len(description) > 2000:
            problem("description", "诉求内容为空、过短或超过2000字", "填写诉求内容")
        order["description"] = description
        try:
            order["phone"] = service.normalise_phone(cell(line, "phone"))
        except ValidationFailed as e:
            problem("phone", str(e), "填写11位手机号或带区号的座机号, 或留空")
        order["address"] = cell(line, "address") or None
        lon, lat = cell(line, "lon"), cell(line, "lat")
        try:
            point = (float(lon), float(lat)) if lon and lat else (None, None)
        except ValueError:
            problem("lon", f"经纬度 ({lon!r}, {lat!r}) 不是数字", "填写 WGS84 经纬度小数, 或留空按地址定位")
            point = (None, None)
        try:
            order["lon"], order["lat"] = service.locate(
                s, lon=point[0], lat=point[1], address=order["address"]
            )
        except ValidationFailed as e:
            problem(
                "address" if point[0] is None else "lon",
                str(e),
                "填写事发地址 (路名、村名或门牌) 或本区内的 WGS84 经纬度",
            )
        orders.append(order)
    done = store.by_external_refs(s, SOURCE, [o["external_ref"] for o in orders if o["external_ref"]])
    for order in orders:
        if order["external_ref"] in done:
            problems.append(
                {
                    "row": order["row"],
                    "column": header[columns["external_ref"]],
                    "problem": f"工单编号 {order['external_ref']} 已导入 "
                    f"(事件 {done[order['external_ref']]})",
                    "fix": "删除已导入的行后再导入",
                }
            )
    problems.sort(key=lambda p: p["row"])
    return orders, problems


def import_orders(
    s: Session, settings: service.EventSettings, data: bytes, mapping: dict[str, str], *, actor: str
) -> dict[str, Any]:
    """Import every work order of the file, or none: ``ValidationFailed`` listing every problem."""
    orders, problems = check(s, settings, data, mapping)
    if problems:
        raise ValidationFailed(
            f"文件中有 {len(problems)} 处问题, 未导入任何工单: 请逐行更正后重新导入", problems=problems
        )
    ids = []
    for order in orders:
        event, _ = service.create(
            s,
            settings,
            category=order["category"],
            description=order["description"],
            lon=order["lon"],
            lat=order["lat"],
            address=order["address"],
            phone=order["phone"],
            source=SOURCE,
            reported_by=SOURCE,
            now=order["reported_at"],
            external_ref=order["external_ref"],
        )
        ids.append(event["event_id"])
    return {"imported": len(ids), "event_ids": ids}
