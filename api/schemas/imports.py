"""File imports: the problem report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ImportProblem(BaseModel):
    model_config = {"extra": "allow"}
    row: int | None = Field(None, description="文件中的行号 row number in the file (1 = first data row)")
    column: str | None = None
    problem: str
    fix: str | None = None


class ImportResult(BaseModel):
    """导入报告 what an import found and did."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "layer": "facilities",
                    "dry_run": True,
                    "ok": False,
                    "rows": 120,
                    "written": 0,
                    "problems": [
                        {
                            "row": 17,
                            "column": "lon",
                            "problem": "lon 22.61 lies outside the district",
                            "fix": "lon and lat look swapped",
                        }
                    ],
                }
            ]
        }
    }
    layer: str
    dry_run: bool
    ok: bool = Field(description="无问题 no problem found")
    rows: int = Field(description="读取行数 rows read")
    written: int = Field(description="写入行数 rows written (0 for a dry run or when any row fails)")
    problems: list[ImportProblem] = Field(description="问题 每行一条 every problem, with its row and fix")
    warnings: list[dict[str, Any]] = Field(
        [], description="提示 (不阻止导入) notes that do not block the import"
    )
    summary: dict[str, Any] = Field({}, description="统计 counts per kind of row")
