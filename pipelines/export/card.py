"""The model card (``README.md`` of an export folder), written from the run's own reports.

Every number in the card is read from a report file of the run that trained the model (or
from the export's own ``config.json``) through ``Citations``, which remembers the file, the
keys and the format of each one: ``tests/test_export_card.py`` reads every cited value back
from its file and checks that no other number is in the card. Nothing is typed in by hand.

Sources (paths relative to the run's checkout):

| file | gives the card |
| --- | --- |
| ``reports/params.json`` | profile |
| ``reports/corpus.json`` | corpus source, clips, hours |
| ``reports/zoo.json`` | the codecs, their families, which are held out |
| ``reports/shards.json`` | clips per split |
| ``metrics/evaluation.json`` | each test set: the group's mean ± std over seeds and n |
| ``metrics/evaluation_seeds.json`` | each test set: this seed's figures and clip count |
| ``reports/calibration/calibration.json`` | the dev calibration fit of this model |
| ``reports/summary.json`` | provenance: commit, params digest, ``dvc.lock`` hashes |
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sastnet.taxonomy import CLASS_WORDS

# (key in metrics/evaluation.json, what the set is)
EVAL_SETS = (
    ("test_seen", "CoRS test, utterance ids seen in training"),
    ("test_unseen", "CoRS test, utterance ids unseen in training"),
    ("cors", "CoRS test, seen + unseen"),
    ("cosg_known", "CoSG (generated speech), codec families known from training"),
    ("cosg_all", "CoSG, all: unseen codec types, voices and sentences as well"),
)
SILENCE_SETS = ("test_seen", "test_unseen", "cors")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")  # a number not inside a word or hash


@dataclass
class Citation:
    file: str  # path relative to the run folder, or "config.json" (the export's own)
    keys: tuple[str, ...]
    fmt: str  # "key": the text is (part of) the last key, a name shown from a report
    text: str


@dataclass
class Citations:
    """Values read from named JSON files, rendered and remembered (see the module docstring).

    ``cite(file, *keys)`` returns a placeholder; ``resolve`` swaps the placeholders for the
    values once the card is written, after checking that the card holds no other number.
    """

    files: dict[str, Path]  # name used in the card -> path
    cited: list[Citation] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict)

    def data(self, name: str) -> Any:
        if name not in self._cache:
            path = self.files.get(name)
            self._cache[name] = json.loads(path.read_text()) if path and path.is_file() else None
        return self._cache[name]

    def value(self, name: str, *keys: str) -> Any:
        node = self.data(name)
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def __call__(self, name: str, *keys: str, fmt: str = "{:.2f}") -> str:
        """The value at ``keys`` of file ``name``, formatted; "n/a" when it is missing."""
        value = self.value(name, *keys)
        if value is None:
            return "n/a"
        return self._placeholder(Citation(name, keys, fmt, render(value, fmt)))

    def key(self, name: str, *keys: str, text: str | None = None) -> str:
        """A name shown from a report: the last of ``keys`` (a codec, a split), or ``text``, a
        part of it (a view of a metric key); cited as present in ``name``."""
        if self.value(name, *keys) is None:
            raise KeyError(f"{name}: no {'/'.join(keys)}")
        text = keys[-1] if text is None else text
        if text not in keys[-1]:
            raise ValueError(f"{text!r} is not part of the key {keys[-1]!r}")
        return self._placeholder(Citation(name, keys, "key", text))

    def _placeholder(self, citation: Citation) -> str:
        self.cited.append(citation)
        return f"\x00{len(self.cited) - 1}\x00"

    def resolve(self, markdown: str) -> str:
        """``markdown`` with the cited values in place; raises if any other number is in it."""
        stray = NUMBER.findall(PLACEHOLDER.sub(" ", markdown))
        if stray:
            raise ValueError(f"model card has numbers not read from a report: {stray}")
        return PLACEHOLDER.sub(lambda m: self.cited[int(m.group(1))].text, markdown)


PLACEHOLDER = re.compile("\x00(\\d+)\x00")


def render(value: Any, fmt: str) -> str:
    """``value`` as the card shows it (``fmt`` for numbers; whole floats pass "{:d}")."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if fmt.endswith("d}") and isinstance(value, float) and value.is_integer():
        value = int(value)
    return fmt.format(value)


def run_files(run_dir: Path, reports_dir: Path, config_path: Path) -> dict[str, Path]:
    """The report files a card reads, by the names the citations use."""
    return {
        "config.json": config_path,
        "reports/params.json": reports_dir / "params.json",
        "reports/corpus.json": reports_dir / "corpus.json",
        "reports/zoo.json": reports_dir / "zoo.json",
        "reports/shards.json": reports_dir / "shards.json",
        "reports/summary.json": reports_dir / "summary.json",
        "reports/calibration/calibration.json": reports_dir / "calibration" / "calibration.json",
        "metrics/evaluation.json": run_dir / "metrics" / "evaluation.json",
        "metrics/evaluation_seeds.json": run_dir / "metrics" / "evaluation_seeds.json",
    }


def _metric_views(group: dict, variant: str, eval_set: str) -> list[str]:
    """The views of ``eval_set`` in ``group`` besides the original: rm_sil, laundering, ..."""
    prefix = f"{variant}/{eval_set}/"
    return sorted({k[len(prefix):].rsplit("/", 1)[0] for k in group
                   if k.startswith(prefix) and k[len(prefix):].count("/") == 1})


def model_card(config: dict, cite: Citations) -> str:
    """The card's markdown for an export of ``config`` (the export's config.json)."""
    return cite.resolve(card_draft(config, cite))


def card_draft(config: dict, cite: Citations) -> str:
    """The card with a placeholder where each cited value goes (``Citations.resolve``)."""
    task, src = config["task"], config["source"]
    variant, seed = src["variant"], src.get("seed")
    experiment = src.get("experiment") or cite.value("reports/summary.json", "experiment")
    key = f"{experiment}_{task}"
    group = cite.value("metrics/evaluation.json", key) or {}
    out = [f"# SASTNet source tracer: {task.upper()} task ({variant})", ""]
    out += _summary(config, cite)
    out += _use()
    out += _training_data(cite)
    out += _evaluation(cite, key, variant, seed, group)
    out += _calibration(config, cite, task, variant, seed)
    out += _limitations()
    out += _provenance(config, cite)
    return "\n".join(out).rstrip() + "\n"


def _summary(config: dict, cite: Citations) -> list[str]:
    task = config["task"]
    words = CLASS_WORDS.get(task, {})
    classes = ", ".join(f"`{c}` ({words.get(c, 'bona fide' if i == 0 else 'spoof')})"
                        for i, c in enumerate(config["classes"]))
    whisper = config.get("whisper")
    lines = [
        "Given a clip of speech, says whether it is bona fide and, if not, which kind of neural "
        f"codec made it. Classes, in output order: {classes}.",
        "",
        "| | |", "| --- | --- |",
        f"| architecture | `{config['model_config']['variant']}` "
        f"(size `{config['model_config']['size']}`) |",
        f"| input | {cite('config.json', 'sample_rate_hz', fmt='{:d}')} Hz mono windows of "
        f"{cite('config.json', 'input_s', fmt='{:.2f}')} s; other rates and channel counts are "
        "resampled and down-mixed; a file is scored window by window and the probabilities "
        "averaged |",
        f"| shortest input | {cite('config.json', 'min_input_s', fmt='{:.2f}')} s (shorter files "
        "are an error) |",
    ]
    if whisper:
        lines.append(
            f"| Whisper | frozen encoder bundled in `whisper/` (from "
            f"`{cite('config.json', 'whisper', 'source')}`, "
            f"{whisper['variant']} variant: {cite('config.json', 'whisper', 'encoder_seconds')}"
            " s of source positions, d_model "
            f"{cite('config.json', 'whisper', 'd_model', fmt='{:d}')}"
            "); its log-mel front end runs outside the network |")
    temperature = config.get("temperature")
    lines.append("| calibration | " + (
        f"temperature {cite('config.json', 'temperature', fmt='{:.4g}')} fitted on dev |"
        if temperature else "none: raw softmax probabilities (see Calibration) |"))
    onnx = config.get("onnx")
    lines.append("| files | `model.safetensors` (weights), `config.json`" + (
        ", `whisper/`" if whisper else "") + (
        f", `model.onnx` (opset {cite('config.json', 'onnx', 'opset', fmt='{:d}')}, "
        f"Whisper {onnx['whisper'] or 'not used'}; largest difference to PyTorch at export "
        f"{cite('config.json', 'onnx', 'parity_max_abs_diff', fmt='{:.1e}')})" if onnx else "")
        + "; no pickle |")
    return lines + [""]


def _use() -> list[str]:
    return [
        "## Use", "",
        "```bash",
        "sastnet trace clip.wav --model THIS_FOLDER                 # PyTorch",
        "sastnet trace clip.wav --model THIS_FOLDER --backend onnx  # ONNX Runtime",
        "```", "",
        "```python",
        "import soundfile as sf",
        "from pipelines.export import load_model",
        "model = load_model(\"THIS_FOLDER\")              # backend=\"onnx\" for ONNX Runtime",
        "wave, sr = sf.read(\"clip.wav\")",
        "record = model.trace(wave, sr)                 # decision, probabilities, windows",
        "```", "",
        "The record follows `docs/trace.schema.json` of the sastnet pipeline; `docs/export.md` "
        "there describes this folder and the ONNX graph's inputs.", "",
    ]


def _training_data(cite: Citations) -> list[str]:
    lines = ["## Training data", ""]
    if cite.data("reports/shards.json") is None:
        return lines + ["The run's reports were not found: training data unknown.", ""]
    lines.append(
        f"Profile `{cite('reports/params.json', 'common', 'profile')}`; corpus "
        f"`{cite('reports/corpus.json', 'source')}` "
        f"({cite('reports/corpus.json', 'clips', fmt='{:d}')} bona fide clips, "
        f"{cite('reports/corpus.json', 'duration', 'hours', fmt='{:.3f}')} h), every clip "
        "resynthesised by every codec of the zoo (CoRS) plus token-LM generated speech (CoSG).")
    zoo = cite.value("reports/zoo.json", "codecs") or {}
    if zoo:
        lines += ["", "| codec | VQ | AUX | DEC | used for |", "| --- | --- | --- | --- | --- |"]
        for name, info in zoo.items():
            fam = info.get("family", {})
            use = "test only (held out)" if info.get("held_out") else "train, dev, test"
            lines.append(f"| `{cite.key('reports/zoo.json', 'codecs', name)}` | "
                         f"{fam.get('vq')} | {fam.get('aux')} | {fam.get('dec')} | {use} |")
    splits = cite.value("reports/shards.json", "splits") or {}
    if splits:
        lines += ["", "| split | clips |", "| --- | --- |"]
        for split in splits:
            lines.append(f"| `{cite.key('reports/shards.json', 'splits', split)}` | "
                         f"{cite('reports/shards.json', 'splits', split, 'samples', fmt='{:d}')} |")
    return lines + [""]


def _evaluation(cite: Citations, key: str, variant: str, seed: int | None,
                group: dict) -> list[str]:
    lines = ["## Evaluation", ""]
    if not group:
        return lines + [f"No `{key}` results for `{variant}` in `metrics/evaluation.json`: "
                        "not evaluated in this run.", ""]
    ev, per_seed = "metrics/evaluation.json", "metrics/evaluation_seeds.json"

    def spread(name: str) -> str:
        return (f"{cite(ev, key, f'{variant}/{name}/macro_f1')} ± "
                f"{cite(ev, key, f'{variant}/{name}/macro_f1_std')} "
                f"(n={cite(ev, key, f'{variant}/{name}/n_seeds', fmt='{:d}')})")

    def this_seed(name: str, metric: str) -> str:
        if seed is None:
            return "n/a"
        return cite(per_seed, key, f"{variant}/seed{seed}/{name}/{metric}",
                    fmt="{:.0f}" if metric == "n" else "{:.2f}")

    lines += [f"Macro F1 (%) on each test set: this model (seed "
              f"{cite('config.json', 'source', 'seed', fmt='{:d}')}) and its group, "
              f"`{variant}` trained once per seed (mean ± sample std over the seeds, n seeds; "
              "from `metrics/evaluation.json` and `metrics/evaluation_seeds.json`).", "",
              "| set | clips | macro F1, this model | weighted F1, this model | "
              "macro F1, group |", "| --- | --- | --- | --- | --- |"]
    for name, what in EVAL_SETS:
        if f"{variant}/{name}/macro_f1" not in group:
            continue
        lines.append(f"| {what} (`{name}`) | {this_seed(name, 'n')} | "
                     f"{this_seed(name, 'macro_f1')} | {this_seed(name, 'weighted_f1')} | "
                     f"{spread(name)} |")
    lines += ["", "### Silence", "",
              "The same test sets with non-speech removed (silero-vad, `rm_sil`): how much "
              "the decision rests on the silences around speech.", "",
              "| set | macro F1, this model | macro F1, group |", "| --- | --- | --- |"]
    for name in SILENCE_SETS:
        if f"{variant}/{name}/rm_sil/macro_f1" in group:
            lines.append(f"| `{name}` rm_sil | {this_seed(f'{name}/rm_sil', 'macro_f1')} | "
                         f"{spread(f'{name}/rm_sil')} |")
    robust = [(name, view) for name, _ in EVAL_SETS
              for view in _metric_views(group, variant, name) if view != "rm_sil"]
    lines += ["", "### Robustness", ""]
    if not robust:
        lines.append("This run has no laundering axis (lossy codecs, telephone band, noise): "
                     "robustness to them was not measured.")
    else:
        lines += ["| set | transform | macro F1, this model | macro F1, group |",
                  "| --- | --- | --- | --- |"]
        for name, view in robust:
            shown = cite.key(ev, key, f"{variant}/{name}/{view}/macro_f1", text=view)
            lines.append(f"| `{name}` | `{shown}` | {this_seed(f'{name}/{view}', 'macro_f1')} | "
                         f"{spread(f'{name}/{view}')} |")
    return lines + [""]


def _calibration(config: dict, cite: Citations, task: str, variant: str,
                 seed: int | None) -> list[str]:
    lines = ["## Calibration", ""]
    report = "reports/calibration/calibration.json"
    entry = f"{task}/{variant}/seed{seed}"
    if cite.value(report, entry) is None:
        return lines + ["No dev calibration report for this model.", ""]
    applied = cite.value(report, entry, "applied")
    lines.append(
        f"On dev ({cite(report, entry, 'dev_clips', fmt='{:d}')} clips, accuracy "
        f"{cite(report, entry, 'accuracy', fmt='{:.4f}')}) the register stage fitted a "
        f"temperature of {cite(report, entry, 'temperature', fmt='{:.4g}')}; expected "
        f"calibration error {cite(report, entry, 'ece_before', fmt='{:.4f}')} before, "
        f"{cite(report, entry, 'ece_after_heldout', fmt='{:.4f}')} after (held out). "
        + ("It is applied: the probabilities are calibrated." if applied else
           "It is not applied (the model got every dev clip right, or the fit did not lower "
           "the held-out error): the probabilities are the raw softmax, and a confidence near "
           "one says little."))
    return lines + [""]


def _limitations() -> list[str]:
    return [
        "## Intended use and limits", "",
        "- **For** research on source tracing of codec-based deepfake speech, and as a first "
        "look in forensic work alongside other evidence.",
        "- **Closed set.** It always answers with one of its classes: a codec family, vocoder "
        "or synthesizer it never saw gets a confident wrong class, not \"unknown\" (the CoSG "
        "(All) row above shows the drop). Use the kNN open-set flag of the pipeline "
        "(`sastnet trace --knn-index`) or the low-confidence warning as a hint, not a verdict.",
        "- **A mini world.** Unless the profile above is `paper`, the model was trained on the "
        "embedded default world: synthetic voices from Debian's synthesizers and small codecs "
        "trained on them, not the CodecFake+ release. Its numbers say the pipeline works, not "
        "how it does on real codecs or real recordings.",
        "- **Not for** deciding alone whether a person said something, or any use where a "
        "wrong answer harms someone.",
        "",
    ]


def _provenance(config: dict, cite: Citations) -> list[str]:
    lines = ["## Provenance", ""]
    src = config["source"]
    c = "config.json"
    lines.append(f"- weights: `{cite(c, 'source', 'model')}`" + (
        f" (registered model `{cite(c, 'source', 'name')}` version "
        f"{cite(c, 'source', 'version')}, MLflow run `{cite(c, 'source', 'run_id')}`)"
        if src.get("version") else ""))
    fp = cite.value("reports/summary.json", "fingerprint")
    if not fp:
        return lines + ["- the run's `reports/summary.json` was not found: no fingerprint.", ""]
    s = "reports/summary.json"
    dirty = " (uncommitted changes)" if fp.get("git_dirty") else ""
    lines += [f"- commit `{cite(s, 'fingerprint', 'git_commit')}`{dirty}; params digest "
              f"`{cite(s, 'fingerprint', 'params_digest')}` (profile "
              f"`{cite(s, 'fingerprint', 'params_profile')}`)",
              f"- evaluated {cite(s, 'generated')}", "",
              "DVC hashes of the inputs (`dvc.lock`):", "", "| path | md5 |", "| --- | --- |"]
    for path in fp.get("dvc_inputs") or {}:
        lines.append(f"| `{cite.key(s, 'fingerprint', 'dvc_inputs', path)}` | "
                     f"`{cite(s, 'fingerprint', 'dvc_inputs', path)}` |")
    return lines + [""]

