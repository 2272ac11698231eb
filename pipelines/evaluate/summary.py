"""``reports/summary.md``: the run's headline numbers and where they came from, in one page.

Written by the evaluate stage (``stages/evaluate.py``) and re-rendered with the final stage
times by ``python -m pipelines.repro`` at the end of ``bash scripts/run.sh``.
It holds, for every trained task (``train.tasks``, in that order), the headline table (mean ±
sample std over seeds with n, macro and weighted F1, and EER for BIN), the paired differences
to the baseline and the silence effect; then the run fingerprint (commit + dirty flag, params
digest, DVC hashes of the inputs, package versions, machine, threads) and the wall time per
stage.
Neither ``summary.md`` nor ``summary.json`` (its data) is a DVC output: they hold times and
the commit, which differ between runs of identical results.

    cat reports/summary.md
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.common.io import write_json, write_text
from pipelines.common.stage_times import load_stage_times
from pipelines.evaluate.scoring import CORS, RANDOM, EvalResult
from pipelines.evaluate.seeds import SeedStats, aggregate, format_stats
from pipelines.evaluate.tables import display_name, model_sort_key

SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"
BASELINE = "w2v2_aasist"  # train.baseline_variant of every profile
HEADLINE_SETS = ((CORS, "CoRS"), ("cosg_known", "CoSG (kn. codec)"), ("cosg_all", "CoSG (All)"))


def _cell(stats: SeedStats | None) -> str:
    return format_stats(stats) if stats is not None and stats.n else "–"


def headline_metrics(task: str) -> tuple[tuple[str, str], ...]:
    """(metric, column label) of the headline table: macro and weighted F1, plus the EER the
    paper reports for spoof detection (BIN)."""
    f1 = (("macro_f1", "macro"), ("weighted_f1", "weighted"))
    return f1 + ((("eer", "EER"),) if task == "bin" else ())


def headline_table(results: Iterable[EvalResult], task: str, experiment: str) -> str:
    """Markdown: per model, n seeds and macro / weighted F1 (and EER for BIN), mean ± std, on
    CoRS and CoSG."""
    agg = aggregate(results)
    models = sorted({k[2] for k in agg if k[0] == experiment and k[1] == task}, key=model_sort_key)
    metrics = headline_metrics(task)
    header = ["Model", "n"] + [f"{name} {label}" for _, name in HEADLINE_SETS
                               for _, label in metrics]
    rows = []
    for model in models:
        cells, ns = [], set()
        for eval_set, _ in HEADLINE_SETS:
            m = agg.get((experiment, task, model, eval_set, False), {})
            for metric, _ in metrics:
                cells.append(_cell(m.get(metric)))
                if m.get(metric) is not None and m[metric].n:  # EER is undefined on all-spoof CoSG
                    ns.add(m[metric].n)
        rows.append([display_name(model, task), "/".join(map(str, sorted(ns))) or "0", *cells])
    return _markdown(header, rows)


def silence_table(results: Iterable[EvalResult], task: str, experiment: str) -> str | None:
    """Markdown: rm_sil - original macro F1 per model (paired by seed), Seen and Unseen."""
    agg = aggregate(results)
    models = sorted({k[2] for k in agg if k[0] == experiment and k[1] == task
                     and k[4] and k[2] != RANDOM}, key=model_sort_key)
    if not models:
        return None
    rows = []
    for model in models:
        row = [display_name(model, task)]
        for eval_set in ("test_seen", "test_unseen"):
            orig = agg.get((experiment, task, model, eval_set, False), {}).get("macro_f1")
            rm = agg.get((experiment, task, model, eval_set, True), {}).get("macro_f1")
            diff = rm.minus(orig) if orig is not None and rm is not None else None
            row += [_cell(orig), _cell(rm), _cell(diff) + (f" (n={diff.n})" if diff else "")]
        rows.append(row)
    return _markdown(["Model", "Seen original", "Seen rm_sil", "Seen diff", "Unseen original",
                      "Unseen rm_sil", "Unseen diff"], rows)


def versus_baseline(stats: SeedStats | None) -> str:
    """Whether a paired difference is a finding: its mean is larger than its seed spread."""
    if stats is None or stats.n < 2 or not math.isfinite(stats.std):
        return "one seed: no spread"
    if abs(stats.mean) > stats.std:
        return "outside the spread" if stats.mean > 0 else "outside the spread (worse)"
    return "inside the spread: not a finding"


def comparison_table(results: Iterable[EvalResult], task: str, experiment: str,
                     baseline: str = BASELINE) -> str | None:
    """Markdown: each model minus the baseline, macro F1 paired by seed (mean ± std, n), on
    CoRS, CoSG and the rm_sil drop, with whether the difference exceeds its seed spread."""
    agg = aggregate(results)
    models = sorted({k[2] for k in agg if k[0] == experiment and k[1] == task
                     and k[2] not in (RANDOM, baseline)}, key=model_sort_key)
    if not models or not any(k[2] == baseline for k in agg):
        return None

    def macro(model: str, eval_set: str, rm_sil: bool = False) -> SeedStats | None:
        return _macro(agg, experiment, task, model, eval_set, rm_sil)

    def drop(model: str) -> SeedStats | None:  # rm_sil - original on the whole test set
        orig, rm = macro(model, CORS), macro(model, CORS, True)
        return rm.minus(orig) if orig is not None and rm is not None else None

    rows = []
    for model in models:
        pairs = [(macro(model, s), macro(baseline, s)) for s, _ in HEADLINE_SETS]
        pairs.append((drop(model), drop(baseline)))
        pairs.append((cosg_gap(agg, experiment, task, model),
                      cosg_gap(agg, experiment, task, baseline)))
        names = [n for _, n in HEADLINE_SETS] + ["rm_sil drop", "CoSG (All) - CoRS"]
        for name, (mine, base) in zip(names, pairs):
            diff = mine.minus(base) if mine is not None and base is not None else None
            if diff is None or not diff.n:
                continue
            rows.append([f"{display_name(model, task)} − {display_name(baseline, task)}", name,
                         f"{_cell(diff)} (n={diff.n})",
                         ", ".join(f"{v:+.2f}" for v in diff.per_seed.values()),
                         versus_baseline(diff)])
    return _markdown(["Comparison", "Set", "Δ macro F1", "per seed", "verdict"], rows) \
        if rows else None


def _macro(agg: dict, experiment: str, task: str, model: str, eval_set: str,
           rm_sil: bool = False) -> SeedStats | None:
    """A model's macro F1 over seeds on one set, from ``aggregate``'s result (None: not run)."""
    return agg.get((experiment, task, model, eval_set, rm_sil), {}).get("macro_f1")


def cosg_gap(agg: dict, experiment: str, task: str, model: str,
             eval_set: str = "cosg_all") -> SeedStats | None:
    """A model's macro F1 on ``eval_set`` minus its CoRS macro F1, paired by seed: the
    paper's CoRS -> CoSG gap (negative: it loses F1 on generated speech)."""
    cors, cosg = (_macro(agg, experiment, task, model, s) for s in (CORS, eval_set))
    return cosg.minus(cors) if cors is not None and cosg is not None else None


def gap_table(results: Iterable[EvalResult], task: str, experiment: str) -> str | None:
    """Markdown: per model, CoSG (kn. codec) - CoRS and CoSG (All) - CoRS macro F1, paired by
    seed (mean ± std, n): does the world pose the paper's problem (a large drop)?"""
    agg = aggregate(results)
    models = sorted({k[2] for k in agg if k[0] == experiment and k[1] == task
                     and k[2] != RANDOM}, key=model_sort_key)
    rows = []
    for model in models:
        gaps = [cosg_gap(agg, experiment, task, model, s) for s in ("cosg_known", "cosg_all")]
        if all(g is None or not g.n for g in gaps):
            continue
        rows.append([display_name(model, task)]
                    + [f"{_cell(g)} (n={g.n})" if g is not None and g.n else "–" for g in gaps])
    return _markdown(["Model", "CoSG (kn. codec) - CoRS", "CoSG (All) - CoRS"], rows) \
        if rows else None


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def summary_record(results: list[EvalResult], *, tasks: Iterable[str], seeds: Iterable[int],
                   fingerprint: dict[str, Any], baseline: str = BASELINE,
                   robustness: dict[str, str] | None = None) -> dict[str, Any]:
    """The data of ``summary.md`` (JSON-able), from the evaluation results and a fingerprint:
    one section (headline, comparison, silence, and ``robustness[task]``: the laundering table
    of ``pipelines.evaluate.robustness``) per task of ``tasks``, in that order."""
    experiments = {r.experiment for r in results}
    experiment = "full" if "full" in experiments else "seen250"
    return {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "experiment": experiment, "seeds": list(seeds),
        "sections": [{"task": task,
                      "headline": headline_table(results, task, experiment),
                      "silence": silence_table(results, task, experiment),
                      "gap": gap_table(results, task, experiment),
                      "comparison": comparison_table(results, task, experiment, baseline),
                      "robustness": (robustness or {}).get(task)}
                     for task in tasks],
        "fingerprint": fingerprint,
    }


def task_sections(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-task sections of a summary record; a ``summary.json`` written before sections
    existed held its one task's tables at the top level."""
    if "sections" in record:
        return record["sections"]
    return [{k: record.get(k) for k in ("task", "headline", "silence", "comparison", "gap")}]


def _task_parts(section: dict[str, Any], trained_on: str, seeds: list[int]) -> list[str]:
    task = section["task"].upper()
    eer = " and EER (%, lower is better)" if section["task"] == "bin" else ""
    parts = [
        f"## {task} task: F1 (%) mean ± sample std over seeds",
        (f"Seeds {seeds} (n per row); models trained on {trained_on}; macro and weighted F1"
         f"{eer} on the CoRS test set (seen + unseen) and the CoSG sets."),
        section["headline"],
    ]
    if section.get("gap"):
        parts += [f"### {task}: the CoRS -> CoSG gap, macro F1 (%) paired by seed",
                  ("Each model's macro F1 on a CoSG set minus its own on CoRS of the same seed, "
                   "then mean ± sample std (negative: it loses F1 on generated speech; the "
                   "paper's Table I: S-AUX -64.35 to CoSG (kn. codec), -77.71 to CoSG (All))."),
                  section["gap"]]
    if section.get("comparison"):
        parts += [f"### {task}: versus the baseline, macro F1 (%) differences paired by seed",
                  ("Each model's macro F1 minus the baseline's of the same seed, then mean ± "
                   "sample std over the seeds; rm_sil drop = (rm_sil - original) of the model "
                   "minus that of the baseline on the CoRS test set, CoSG (All) - CoRS the same "
                   "for the generated-speech gap (positive: the model loses less). A "
                   "difference whose |mean| is not larger than its std is inside the "
                   "seed spread: not a finding."),
                  section["comparison"]]
    if section.get("silence"):
        parts += [f"### {task}: silence removal, macro F1 (%), rm_sil - original per seed, then "
                  "mean ± std",
                  section["silence"]]
    if section.get("robustness"):
        parts += [f"### {task}: laundering, macro F1 (%) per condition, drop from clean paired "
                  "by seed",
                  ("The laundered copies of stage `launder` (docs/laundering.md; `clean`: the "
                   "same clips as they are). Drop = laundered - clean of the same seed, then "
                   "mean ± sample std; drop − baseline's = that drop minus the baseline's of "
                   "the same seed (positive: the model loses less). A difference whose |mean| "
                   "is not larger than its std is inside the seed spread: not a finding. "
                   f"Plot: `reports/plots/robustness_{section['task']}.png`."),
                  section["robustness"]]
    return parts


def render_summary(record: dict[str, Any], stage_times: dict[str, Any]) -> str:
    fp = record["fingerprint"]
    trained_on = ("the whole CoRS train split" if record["experiment"] == "full"
                  else "CoRS train utt. ids <= 250 (the Table II/III protocol)")
    parts = [
        "# Run summary",
        (f"Written {record['generated']} by the evaluate stage; the one source of the numbers "
         "below (per-seed values: `metrics/evaluation_seeds.json`, all tables: "
         "`reports/tables/`)."),
    ]
    for section in task_sections(record):
        parts += _task_parts(section, trained_on, record["seeds"])
    dirty = " (dirty: uncommitted changes to tracked files)" if fp["git_dirty"] else " (clean)"
    parts += [
        "## Fingerprint",
        "\n".join([
            f"- commit: `{fp['git_commit']}`{dirty}",
            f"- params digest: `{fp['params_digest']}`"
            + (f" (profile `{fp['params_profile']}`: params.yaml is "
               f"`profiles/{fp['params_profile']}.yaml` verbatim)"
               if fp.get("params_profile") else ""),
            (f"- machine: {fp['cpu']}, {fp['cpu_cores']} cores ({fp['cpu_cores_usable']} "
             f"usable), GPU: {fp['gpu']}; {fp['platform']}, Python {fp['python']}"),
            "- threads (evaluate process): "
            + ", ".join(f"{k} {v}" for k, v in fp["threads"].items()),
            "- packages: " + ", ".join(f"{k} {v}" for k, v in fp["packages"].items()),
        ]),
        "DVC hashes of the inputs (from `dvc.lock`):",
        _markdown(["path", "md5"], [[f"`{p}`", f"`{h}`"] for p, h in fp["dvc_inputs"].items()]),
        "## Wall time per stage",
        stage_time_table(stage_times),
    ]
    return "\n\n".join(parts) + "\n"


def stage_time_table(stage_times: dict[str, Any]) -> str:
    stages = stage_times.get("stages", {})
    if not stages:
        return ("Not recorded: run the pipeline with `bash scripts/run.sh` (or "
                "`python -m pipelines.repro`, which wraps `dvc repro`) to time it.")
    run = stage_times.get("run", {})
    in_run = set(run.get("stages_run", []))
    rows = [[f"`{name}`", f"{e['wall_s']:.0f} s" if "wall_s" in e else e.get("status", "?"),
             e.get("started", "?"), "this run" if name in in_run else "earlier run",
             e.get("status", "?")]
            for name, e in stages.items()]
    text = _markdown(["stage", "wall time", "started (UTC)", "executed in", "status"], rows)
    if "wall_s" in run:
        text += (f"\n\nThis `dvc repro` run: {run['wall_s']:.0f} s wall time, "
                 f"{len(in_run)} stage(s) executed, status {run['status']}.")
    return text


def write_summary(reports_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``summary.json`` and ``summary.md`` (with the stage times recorded so far)."""
    reports_dir = Path(reports_dir)
    write_json(reports_dir / SUMMARY_JSON, record)
    return rerender_summary(reports_dir)


def rerender_summary(reports_dir: str | Path) -> Path | None:
    """Re-render ``summary.md`` from ``summary.json`` and the current stage times."""
    reports_dir = Path(reports_dir)
    if not (reports_dir / SUMMARY_JSON).is_file():
        return None
    record = json.loads((reports_dir / SUMMARY_JSON).read_text())
    out = reports_dir / SUMMARY_MD
    write_text(out, render_summary(record, load_stage_times(reports_dir)))
    return out
