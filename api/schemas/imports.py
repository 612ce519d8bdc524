"""File imports: the problem report, and the import job that makes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


class ImportProgress(BaseModel):
    """进度 how far a running import is."""

    stage: str = Field("", description="阶段 读取 / 检查 / 写入 …")
    done: int = Field(description="已写入行数 rows written so far (while writing)")
    total: int = Field(description="待写入行数 rows to write (0 before writing)")
    unit: str = Field("行", description="单位")


class ImportJob(BaseModel):
    """导入任务 a file import run by the task queue: queued (排队中) → running (进行中, ``progress``) →
    done (已完成: ``result`` is the report) | failed (失败: ``error`` says why and the fix; when rows
    were refused, ``result`` lists them). Nothing is written unless the whole file is clean."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": 12,
                    "kind": "import",
                    "status": "running",
                    "status_zh": "进行中",
                    "layer": "facilities",
                    "filename": "设施.xlsx",
                    "dry_run": False,
                    "progress": {"stage": "写入 writing", "done": 5000, "total": 12000, "unit": "行"},
                    "result": None,
                    "error": None,
                    "actor": "planner",
                    "url": "/imports/jobs/12",
                    "created_at": "2026-12-07T09:30:00+08:00",
                    "started_at": "2026-12-07T09:30:01+08:00",
                    "finished_at": None,
                }
            ]
        }
    )

    job_id: int
    kind: Literal["import"] = "import"
    status: Literal["queued", "running", "done", "failed"]
    status_zh: str = Field(description="状态 排队中 / 进行中 / 已完成 / 失败")
    layer: str = Field(description="导入图层")
    filename: str | None = Field(None, description="上传的文件名")
    dry_run: bool = Field(description="只检查不写入")
    progress: ImportProgress | None = Field(None, description="进度 once the import has started")
    result: ImportResult | None = Field(None, description="导入报告 the report, once it ended")
    error: str | None = Field(None, description="失败原因 why it failed, and the fix")
    actor: str | None = Field(None, description="上传者")
    url: str = Field(description="this job's URL, to poll")
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
