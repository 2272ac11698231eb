"""Trace records as a table (people), JSON (programs, ``docs/trace.schema.json``) or CSV."""

from __future__ import annotations

import csv
import io
import json

from pipelines.evaluate.trace.models import TraceModel


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2)


def csv_rows(records: list[dict], models: dict[str, TraceModel]) -> list[dict]:
    """One flat row per file: ``<task>_decision``, ``<task>_p_<class>``, ... (no timeline)."""
    rows = []
    for r in records:
        audio = r["audio"] or {}
        row = {"file": r["file"], "status": r["status"], "error": r["error"] or "",
               "family": r["family"] or "", "sample_rate_hz": audio.get("sample_rate_hz", ""),
               "channels": audio.get("channels", ""), "duration_s": audio.get("duration_s", "")}
        for task, model in models.items():
            res = r["results"].get(task, {})
            row[f"{task}_decision"] = res.get("decision", "")
            for cls in model.classes:
                p = res.get("probabilities", {}).get(cls)
                row[f"{task}_p_{cls}"] = "" if p is None else f"{p:.6f}"
            row[f"{task}_calibrated"] = model.calibrated
            row[f"{task}_ood"] = res.get("ood", "")
            row[f"{task}_windows"] = len(res.get("windows", []))
        row["warnings"] = " | ".join(r["warnings"])
        rows.append(row)
    return rows


def to_csv(records: list[dict], models: dict[str, TraceModel]) -> str:
    rows = csv_rows(records, models)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["file"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def print_table(records: list[dict], models: dict[str, TraceModel], console=None) -> None:
    """A rich table: one row per file, the decision and its probability per task."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for task, m in models.items():
        state = (f"calibrated (temperature {m.temperature:.2f} fitted on dev)" if m.calibrated
                 else "NOT calibrated (raw softmax)")
        console.print(f"{task.upper()} model: {m.source}; probabilities {state}")
    table = Table(title=f"{'/'.join(t.upper() for t in models)} source tracing")
    table.add_column("file", overflow="fold")
    for task in models:
        table.add_column(task.upper())
    table.add_column("family / error", overflow="fold")
    table.add_column("notes", overflow="fold")
    for r in records:
        cells = []
        for task in models:
            res = r["results"].get(task)
            if res is None:
                cells.append("-")
                continue
            flag = " OOD?" if res["ood"] else ""
            windows = len(res["windows"])
            span = f" ({windows} windows)" if windows > 1 else ""
            cells.append(f"{res['decision']} {res['confidence']:.2f}{flag}{span}")
        verdict = r["family"] if r["status"] == "ok" else f"[red]error: {r['error']}[/red]"
        table.add_row(r["file"], *cells, verdict, "; ".join(r["warnings"]))
    console.print(table)
