"""DVC stage ``codecs``: train the codec zoo and report on it.

    python -m stages.codecs      # data/codecs/<name>/{early,mid,late}.pt (+ token_lm.pt),
                                 # data/codecs/zoo.json, reports/zoo.json, reports/zoo.md
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from pipelines.codecs.zoo import build_zoo, tracked_zoo
from pipelines.common.io import timings_path, write_json, write_report, write_text
from pipelines.common.process import stage_process
from pipelines.params import load_params


def zoo_markdown(zoo: dict) -> str:
    """The human-readable table of ``reports/zoo.md`` (no timings: a DVC output; they are in
    ``reports/timings/codecs.json``)."""
    lines = [
        "# Codec zoo",
        "",
        f"{len(zoo['codecs'])} codecs ({zoo['workers']} parallel workers; times in "
        "reports/timings/codecs.json). Quality on bona fide dev clips: mel distance "
        "(mean |log-mel difference|, lower is better) and SI-SNR (dB, higher is better) of "
        "the late checkpoint, next to a trivial baseline (white noise of matched loudness).",
        "",
        "| codec | VQ | AUX | DEC | held out | token LM | params (M) | kbps "
        "| mel dist | trivial mel | SI-SNR dB | trivial SI-SNR |",
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rec in zoo["codecs"].items():
        fam, q, t = rec["family"], rec["quality"], rec["trivial"]
        lines.append(
            f"| {name} | {fam['vq']} | {fam['aux']} | {fam['dec']} | "
            f"{'yes' if rec['held_out'] else 'no'} | {'yes' if rec['token_lm'] else 'no'} | "
            f"{rec['parameters'] / 1e6:.2f} | {rec['bitrate_kbps']:.2f} | "
            f"{q['mel_distance']:.3f} | {t['mel_distance']:.3f} | "
            f"{q['si_snr_db']:.1f} | {t['si_snr_db']:.1f} |")
    lines += ["", "Mel distance by checkpoint (early / mid / late):", ""]
    for name, rec in zoo["codecs"].items():
        stages = rec["quality"]["by_checkpoint"]
        cells = " / ".join(f"{stages[s]['mel_distance']:.3f} (step {stages[s]['step']})"
                           for s in ("early", "mid", "late"))
        lines.append(f"- {name}: {cells}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Train the codec zoo and report on it."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = load_params()
    zoo = build_zoo(params.codecs)
    write_json(Path(params.codecs.out_dir) / "zoo.json", tracked_zoo(zoo))  # no timings: DVC-hashed
    reports = Path(params.common.reports_dir)
    write_report(reports / "zoo.json", zoo, timings_path(reports, "codecs"))
    write_text(reports / "zoo.md", zoo_markdown(zoo))
    print(f"codec zoo: {len(zoo['codecs'])} codecs in {zoo['wall_seconds']:.0f} s "
          f"-> {params.codecs.out_dir}/zoo.json, {reports}/zoo.md")


if __name__ == "__main__":
    with stage_process("codecs"):
        typer.run(main)
