"""Trace records as a table (people), JSON (programs, ``docs/trace.schema.json``) or CSV."""

from __future__ import annotations

import csv
import io
import json

from pipelines.trace.models import TraceModel


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
        knn = r.get("knn") or {}
        row["knn_system"] = knn.get("system", "")
        row["knn_distance"] = "" if not knn else f"{knn['distance']:.6f}"
        row["knn_unknown"] = knn.get("unknown", "")
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


def _knn_cell(knn: dict | None) -> str:
    if not knn:
        return "-"
    if knn["unknown"]:
        return (f"UNKNOWN system (d {knn['distance']:.3f} > {knn['threshold']:.3f}; nearest "
                f"{knn['system']}, family {knn['vq']}/{knn['aux']}/{knn['dec']})")
    return f"{knn['system']} (d {knn['distance']:.3f} <= {knn['threshold']:.3f})"


def print_table(records: list[dict], models: dict[str, TraceModel], console=None) -> None:
    """A rich table: one row per file, the decision and its probability per task."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for task, m in models.items():
        console.print(f"{task.upper()} model: {m.source}", markup=False)
        console.print(f"  probabilities {m.calibration_note}", markup=False)
        console.print(f"  {m.closed_set_note}", markup=False)
    table = Table(title=f"{'/'.join(t.upper() for t in models)} source tracing")
    table.add_column("file", overflow="fold")
    for task in models:
        table.add_column(task.upper())
    table.add_column("family / error", overflow="fold")
    with_knn = any(r.get("knn") for r in records)
    if with_knn:
        table.add_column("kNN (open set)", overflow="fold")
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
        cells_knn = [_knn_cell(r.get("knn"))] if with_knn else []
        table.add_row(r["file"], *cells, verdict, *cells_knn, "; ".join(r["warnings"]))
    console.print(table)
