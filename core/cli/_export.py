"""``tracker export PROJECT --format csv|parquet``: histories or the runs table as a file.

CSV needs nothing but the standard library (rows are streamed run by run); Parquet
needs ``tracker[data]`` (pandas and pyarrow). Values that are not numbers, strings or
booleans (lists, dicts, media references) are written as JSON text.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.cli._runs import api_for, check_project

if TYPE_CHECKING:
    from tracker.api import Run

__all__: list[str] = []

_HISTORY_LEAD = ["run_id", "run_name", "_step", "_timestamp", "_runtime"]
_ROWS_PER_UPDATE = 1000


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``export``."""
    export = commands.add_parser(
        "export",
        help="export a project's histories or runs table (CSV, Parquet)",
        description="Export every run's history (one row per logged row, with run_id and run_name "
        "columns) or the runs table (config.* and summary.* columns) of a project.",
        parents=[common],
    )
    export.add_argument("project", metavar="PROJECT")
    export.add_argument("--format", required=True, choices=["csv", "parquet"], dest="fmt")
    export.add_argument("--out", help="output file (default: stdout for csv, PROJECT.parquet for parquet)")
    export.add_argument("--what", choices=["history", "runs"], default="history", help="what to export")
    export.set_defaults(_func=run_export, _parser=export)


def run_export(args: argparse.Namespace) -> int:
    """``tracker export``."""
    from tracker._optional import require_extra
    from tracker.cli._progress import progress

    if args.fmt == "parquet":
        require_extra("pandas", feature="tracker export --format parquet", extra="data")
        require_extra("pyarrow", feature="tracker export --format parquet", extra="data")
    api = api_for(args)
    check_project(api, args.project)
    runs = list(api.runs(args.project, order="+created_at"))
    out = args.out or ("-" if args.fmt == "csv" else f"{args.project}.parquet")
    if args.what == "runs":
        total, unit = len(runs), "runs"
    else:  # rows as the index counted them (superseded ones too: the bar may end short of 100%)
        total, unit = sum(run._record.rows_logged for run in runs), "rows"
    with progress(total, f"exporting {args.project}", unit=unit) as bar:
        if args.what == "runs":
            header, rows = _runs_table(runs)
            bar.update(len(runs))
        else:
            header, rows = _history_table(runs, bar.update)
        if args.fmt == "csv":
            count = _write_csv(out, header, rows)
        else:
            count = _write_parquet(out, header, rows)
    if out != "-":
        print(f"wrote {count} rows to {out}", file=sys.stderr)
    return 0


def _history_table(runs: list[Run], done: Callable[[int], None]) -> tuple[list[str], Any]:
    keys: set[str] = set()
    for run in runs:
        keys.update(run._api.index.keys(run.project, run.id))
    header = _HISTORY_LEAD + sorted(keys)

    def rows() -> Any:
        for run in runs:
            count = 0
            for row in run.scan_history():
                yield {"run_id": run.id, "run_name": run.name, **row}
                count += 1
                if count == _ROWS_PER_UPDATE:  # not per row: the bar costs nothing per row
                    done(count)
                    count = 0
            done(count)

    return header, rows()


def _runs_table(runs: list[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    config_keys: set[str] = set()
    summary_keys: set[str] = set()
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "id": run.id,
            "name": run.name,
            "state": run.state,
            "created_at": run.created_at,
            "group": run.group,
            "job_type": run.job_type,
            "tags": ",".join(run.tags),
            "notes": run.notes,
        }
        for key, value in run.config.items():
            row[f"config.{key}"] = value
            config_keys.add(f"config.{key}")
        for key, value in run.summary.items():
            row[f"summary.{key}"] = value
            summary_keys.add(f"summary.{key}")
        rows.append(row)
    lead = ["id", "name", "state", "created_at", "group", "job_type", "tags", "notes"]
    return lead + sorted(config_keys) + sorted(summary_keys), rows


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=repr)


def _write_csv(out: str, header: list[str], rows: Any) -> int:
    count = 0
    stream = sys.stdout if out == "-" else open(out, "w", newline="", encoding="utf-8")
    try:
        writer = csv.DictWriter(stream, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
            count += 1
    finally:
        if stream is not sys.stdout:
            stream.close()
    return count


def _write_parquet(out: str, header: list[str], rows: Any) -> int:
    import pandas as pd

    frame = pd.DataFrame.from_records(list(rows), columns=header)
    for column in frame.columns:
        if frame[column].dtype == object:
            values = frame[column].tolist()
            kinds = {type(v) for v in values if v is not None}
            if kinds - {str}:
                # Mixed or nested values: one Parquet column type, JSON text.
                frame[column] = [None if v is None else json.dumps(v, default=repr) for v in values]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return len(frame)
