"""The paper's result tables as markdown, from ``pipelines.evaluate.scoring`` results.

Every F1 cell shows **macro F1 / weighted F1** (percent) as mean ± std over the training
seeds with their number n (``pipelines.evaluate.seeds``); each caption says so. The official
SASTNet evaluation computes the weighted F1 (scikit-learn ``average="weighted"``); the paper's
tables only say "F1", so both are shown (docs/evaluation.md).

* Table I: per task, rows = models, columns = CoRS / CoSG (kn. codec) / CoSG (All).
* Table II: the baselines (``w2v2_aasist``) trained on utt ids <= 250: CoRS Test Seen/Unseen
  x original / rm_sil, with the difference.
* Table III: AUX-task ablation on Seen/Unseen x original/rm_sil, with front-end check marks.
* Table IV: AUX-task ablation on CoRS / CoSG (kn.) / CoSG (All), with a Random row.
"""

from __future__ import annotations

import math

from pipelines.evaluate.scoring import CORS, RANDOM, EvalResult
from pipelines.evaluate.seeds import SeedStats, aggregate, format_stats
from sastnet.taxonomy import TRACING_TASKS

F1_NOTE = ("Each cell: macro F1 / weighted F1 (%), mean ± sample std over n training seeds "
           "(n in brackets; no ± for one seed). The official SASTNet evaluation reports the "
           "weighted F1; the macro F1 weighs every class equally.")

# model name (the folder under predictions/<experiment>/<task>/) -> how the paper names it
DISPLAY = {
    RANDOM: "Random",
    "w2v2_aasist": "S-{TASK}",
    "s_mae": "S-MAE",
    "m_mae": "M-MAE",
    "whisper_m_mae": "Whisper + M-MAE",
    "w2v2_m_mae": "W2V2 + M-MAE",
    "sastnet": "SASTNet",
}
SUFFIXES = {"_pretrained": " (Pretrained W2V2)", "_tuned": " (Tuned W2V2)"}
FRONT_ENDS = {  # the front-end modules of Tables III and IV
    "w2v2_aasist": {"W2V2"}, "s_mae": {"MAE"}, "m_mae": {"MAE"},
    "whisper_m_mae": {"MAE", "Whisper"}, "w2v2_m_mae": {"W2V2", "MAE"},
    "sastnet": {"W2V2", "MAE", "Whisper"}, RANDOM: set(),
}
SET_NAMES = {CORS: "CoRS", "cosg_known": "CoSG (kn. codec)", "cosg_all": "CoSG (All)",
             "test_seen": "CoRS Test (Seen)", "test_unseen": "CoRS Test (Unseen)"}
MISSING = "–"
SEEN250_NOTE = (" The models of this run were trained on CoRS Train utt. id <= 250 only "
                "(the Table II protocol); no full-train models were run.")


def _train_note(experiment: str) -> str:
    return f" Experiment: {experiment}." + ("" if experiment == "full" else SEEN250_NOTE)


def _base(model: str) -> tuple[str, str]:
    """(known base name, suffix) by the longest known prefix; unknown models are their own base."""
    for base in sorted(DISPLAY, key=len, reverse=True):
        if model == base or model.startswith(base + "_"):
            return base, model[len(base):]
    return model, ""


def display_name(model: str, task: str) -> str:
    base, suffix = _base(model)
    name = DISPLAY.get(base, base).replace("{TASK}", task.upper())
    return name + SUFFIXES.get(suffix, suffix.replace("_", " "))


def model_sort_key(model: str) -> tuple:
    base, suffix = _base(model)
    rank = list(DISPLAY).index(base) if base in DISPLAY else len(DISPLAY)
    return rank, list(SUFFIXES).index(suffix) if suffix in SUFFIXES else -1, model


F1Pair = tuple[SeedStats, SeedStats]  # (macro F1, weighted F1) over seeds


class _Index:
    def __init__(self, results: list[EvalResult]):
        self.by = aggregate(results)

    def models(self, experiment: str, task: str, only: set[str] | None = None) -> list[str]:
        found = {k[2] for k in self.by if k[0] == experiment and k[1] == task}
        if only is not None:
            found = {m for m in found if _base(m)[0] in only}
        return sorted(found, key=model_sort_key)

    def f1(self, experiment, task, model, eval_set, rm_sil=False) -> F1Pair | None:
        m = self.by.get((experiment, task, model, eval_set, rm_sil))
        return None if m is None else (m["macro_f1"], m["weighted_f1"])


def _cell(pair: F1Pair | None) -> str:
    """``macro mean ± std / weighted mean ± std (n=k)``."""
    if pair is None or any(s.n == 0 or math.isnan(s.mean) for s in pair):
        return MISSING
    return f"{format_stats(pair[0])} / {format_stats(pair[1])} (n={min(s.n for s in pair)})"


def _diff(a: F1Pair | None, b: F1Pair | None) -> F1Pair | None:
    """``b - a`` per seed (the seeds pair the two views), then over seeds."""
    return None if a is None or b is None else (b[0].minus(a[0]), b[1].minus(a[1]))


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _checks(model: str) -> list[str]:
    mods = FRONT_ENDS.get(_base(model)[0], set())
    return ["✓" if m in mods else "" for m in ("W2V2", "MAE", "Whisper")]


def table_i(results: list[EvalResult], experiment: str = "full") -> str:
    """Table I: F1 per task, rows = models, columns = CoRS / CoSG (kn. codec) / CoSG (All)."""
    idx = _Index(results)
    sets = (CORS, "cosg_known", "cosg_all")
    parts = [f"**Table I.** F1 (%) on the source tracing tasks. {F1_NOTE}{_train_note(experiment)}"]
    for task, title in (("vq", "(a) Vector quantization"), ("aux", "(b) Auxiliary objective"),
                        ("dec", "(c) Decoder type")):
        models = idx.models(experiment, task)
        if not models:
            continue
        rows = [[display_name(m, task)] + [_cell(idx.f1(experiment, task, m, s)) for s in sets]
                for m in models]
        parts.append(f"{title}\n\n" + _markdown(["Model"] + [SET_NAMES[s] for s in sets], rows))
    return "\n\n".join(parts) + "\n"


def table_ii(results: list[EvalResult], experiment: str = "seen250") -> str:
    """Table II: baselines trained on utt ids <= 250, Seen/Unseen x original/rm_sil (+ diff)."""
    idx = _Index(results)
    header = ["Model"]
    for s in ("Seen", "Unseen"):
        header += [f"{s} original", f"{s} rm_sil", f"{s} diff"]
    rows = []
    for task in TRACING_TASKS:
        for m in idx.models(experiment, task, only={"w2v2_aasist"}):
            row = [display_name(m, task)]
            for s in ("test_seen", "test_unseen"):
                orig, rm = idx.f1(experiment, task, m, s), idx.f1(experiment, task, m, s, True)
                row += [_cell(orig), _cell(rm), _cell(_diff(orig, rm))]
            rows.append(row)
    caption = ("**Table II.** F1 (%) of the baselines trained on CoRS Train (utt. id <= 250), "
               "tested on CoRS Test Seen (utt. id <= 250) and Unseen, with and without silence "
               f"(diff = rm_sil - original). {F1_NOTE}")
    return caption + "\n\n" + _markdown(header, rows) + "\n"


def table_iii(results: list[EvalResult], experiment: str = "seen250", task: str = "aux") -> str:
    """Table III: ablation (AUX) on Seen/Unseen x original/rm_sil, front-end check marks."""
    idx = _Index(results)
    header = ["Model", "W2V2", "MAE", "Whisper", "Seen orig.", "Seen rm_sil", "Unseen orig.",
              "Unseen rm_sil"]
    rows = [[display_name(m, task)] + _checks(m)
            + [_cell(idx.f1(experiment, task, m, s, rm)) for s in ("test_seen", "test_unseen")
               for rm in (False, True)]
            for m in idx.models(experiment, task) if m != RANDOM]
    caption = (f"**Table III.** Silence and unseen-speech ablation on the {task.upper()} task: "
               "trained on CoRS Train (utt. id <= 250), tested on CoRS Test Seen / Unseen, "
               f"original and silence-removed. {F1_NOTE}")
    return caption + "\n\n" + _markdown(header, rows) + "\n"


def table_iv(results: list[EvalResult], experiment: str = "full", task: str = "aux") -> str:
    """Table IV: ablation (AUX) on CoRS / CoSG (kn.) / CoSG (All), with the Random row."""
    idx = _Index(results)
    sets = (CORS, "cosg_known", "cosg_all")
    header = ["Model", "W2V2", "MAE", "Whisper"] + [SET_NAMES[s] for s in sets]
    rows = [[display_name(m, task)] + _checks(m)
            + [_cell(idx.f1(experiment, task, m, s)) for s in sets]
            for m in idx.models(experiment, task)]
    caption = (f"**Table IV.** Codec-type and generative-modeling ablation on the {task.upper()} "
               f"task: trained on the {task.upper()}-balanced CoRS Train set, evaluated on the "
               f"CodecFake+ evaluation sets. {F1_NOTE}{_train_note(experiment)}")
    return caption + "\n\n" + _markdown(header, rows) + "\n"


def table_bin(results: list[EvalResult], experiment: str = "full") -> str:
    """Spoof detection (BIN): EER per model and evaluation set, as the official release scores it."""
    idx = _Index(results)
    sets = (CORS, "cosg_known", "cosg_all")
    rows = []
    for m in idx.models(experiment, "bin"):
        cells = []
        for s in sets:
            metrics = idx.by.get((experiment, "bin", m, s, False))
            eer = metrics.get("eer") if metrics else None
            ok = eer is not None and eer.n > 0
            cells.append(f"{format_stats(eer)} (n={eer.n})" if ok else MISSING)
        rows.append([display_name(m, "bin")] + cells)
    caption = ("**Spoof detection (BIN).** EER (%, lower is better), bona fide as the target "
               "class, scored with the bona fide probability; mean ± sample std over n seeds.")
    return caption + "\n\n" + _markdown(["Model"] + [SET_NAMES[s] for s in sets], rows) + "\n"


def render_tables(results: list[EvalResult]) -> dict[str, str]:
    """``{"table_i": markdown, ...}`` for every table that has at least one result."""
    experiments = {r.experiment for r in results}
    out = {}
    # Tables I and IV come from full-train models; a run with only utt-id <= 250 models shows
    # them from those, saying so in the caption.
    overall = "full" if "full" in experiments else "seen250" if "seen250" in experiments else None
    if overall is not None:
        out["table_i"] = table_i(results, overall)
        out["table_iv"] = table_iv(results, overall)
    if any(r.experiment == overall and r.task == "bin" for r in results):
        out["table_bin"] = table_bin(results, overall)
    if "seen250" in experiments:
        out["table_ii"], out["table_iii"] = table_ii(results), table_iii(results)
    return out
