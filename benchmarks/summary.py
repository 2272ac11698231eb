"""``benchmarks/results/summary.md`` from the result files, and the README's Performance block.

Every number in the summary comes from a ``benchmarks/results/<name>.json``; the README's
block between ``README_BEGIN`` and ``README_END`` is the summary's headline table, rewritten by
the runner and checked by ``tests/benchmarks/test_summary.py`` (no number typed by hand).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.machine import describe

README_BEGIN = "<!-- benchmarks:begin (python -m benchmarks writes this block) -->"
README_END = "<!-- benchmarks:end -->"


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    """Every ``<name>.json`` result file (not the summary), ordered by figure then name."""
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text())
        if "figures" in data and "machine" in data:
            out.append(data)
    return sorted(out, key=lambda r: (r.get("figure", "Z"), r["name"]))


def legacy_results(results_dir: Path) -> list[str]:
    """Result files of the one-off scripts this runner replaced (no fingerprint, no figures):
    kept until the runner rewrites them, listed so nobody reads them as this run's."""
    names = []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text())
        if not ("figures" in data and "machine" in data):
            names.append(path.name)
    return names


def fmt(value: float) -> str:
    """3 significant digits, no exponent for the ranges benchmarks produce."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def figure_row(fig: dict[str, Any]) -> str:
    """``| id | what | A | B | ratio | spread |`` with absolute numbers in the figure's unit."""
    a, b = fig["a"], fig["b"]
    spread = max(a["spread"], b["spread"])
    n = max(a["n"], b["n"])
    best = "best" if n > 1 else "once"
    return (f"| {fig['id']} | {fig['what']} | {a['name']}: {fmt(a['best'])} {fig['unit']} | "
            f"{b['name']}: {fmt(b['best'])} {fig['unit']} | **{fmt(fig['ratio'])}x** | "
            f"{best} of {n}, spread {spread * 100:.0f}% |")


TABLE_HEAD = ("| id | figure | A | B | B vs A | repeats |\n"
              "| --- | --- | --- | --- | --- | --- |")


def headline_table(results: list[dict[str, Any]]) -> str:
    """One row per figure of every result, in figure order (the README block)."""
    rows = [figure_row(fig) for r in results for fig in r["figures"]]
    return "\n".join([TABLE_HEAD, *rows])


def render_summary(results: list[dict[str, Any]], legacy: list[str] = ()) -> str:
    """The whole ``summary.md``: headline table, then per benchmark its machine, load and notes."""
    lines = ["# Benchmarks", "",
             "Written by `python -m benchmarks` from `benchmarks/results/*.json`; do not edit. "
             "Each row: two sides measured in the same run, the best of N repeats of each (the "
             "least disturbed by other work), and the spread (slowest repeat / fastest - 1). "
             "B vs A > 1 means B is better (faster, or more per second).", ""]
    modes = sorted({r["mode"] for r in results})
    if "smoke" in modes:
        lines += ["> **Smoke results** (`--mode smoke`: seconds-sized inputs, one repeat): they "
                  "show the runner works, not how fast anything is. Run `python -m benchmarks` "
                  "on an idle machine for the figures.", ""]
    if any(not r["machine"].get("quiet", False) for r in results):
        lines += ["> **Measured on a loaded or niced machine** (see each benchmark's load "
                  "average and nice value below): ratios between sides measured together hold "
                  "better than absolute numbers.", ""]
    lines += [f"Modes: {', '.join(modes)}.", "", headline_table(results), ""]
    for r in results:
        lines += [f"## {r.get('figure', '-')} {r['name']}: {r['title']}", "",
                  f"- mode `{r['mode']}`, {r['finished']}, {r['wall_s']:.0f} s; "
                  f"{describe(r['machine'])}",
                  f"- settings: `{json.dumps(r['settings'], sort_keys=True)}`"]
        if r.get("status", "ok") != "ok":
            lines.append(f"- **{r['status']}**")
        for fig in r["figures"]:
            if fig.get("note"):
                lines.append(f"- {fig['id']}: {fig['note']}")
        lines += [f"- {note}" for note in r.get("notes", [])]
        lines.append("")
        for table in r.get("tables", []):
            lines += [table, ""]
    if legacy:
        lines += ["## Older results", "",
                  "Written by the one-off scripts before this runner (other days, other loads, "
                  f"no fingerprint); replaced when their benchmark next runs: {', '.join(legacy)}.",
                  ""]
    return "\n".join(lines).rstrip() + "\n"


def readme_block(results: list[dict[str, Any]]) -> str:
    """The README's Performance block: the headline table and where it came from."""
    modes = ", ".join(sorted({r["mode"] for r in results})) or "none"
    loaded = any(not r["machine"].get("quiet", False) for r in results)
    first = results[0]["machine"] if results else None
    where = describe(first) if first else "no results yet"
    return "\n".join([
        README_BEGIN,
        f"Mode {modes}{' (tiny inputs: not measurements)' if 'smoke' in modes else ''}; "
        f"{where}{' (loaded or niced: read the ratios)' if loaded else ''}. "
        "Details and notes: `benchmarks/results/summary.md`.", "",
        headline_table(results),
        README_END])


def replace_readme_block(readme: str, block: str) -> str:
    """``readme`` with the text between the markers (markers included) replaced by ``block``."""
    if readme.count(README_BEGIN) != 1 or readme.count(README_END) != 1:
        raise ValueError(f"README needs exactly one {README_BEGIN!r} ... {README_END!r} block")
    head, rest = readme.split(README_BEGIN)
    tail = rest.split(README_END, 1)[1]
    return head + block + tail


def current_readme_block(readme: str) -> str:
    """The block as it stands in ``readme`` (markers included)."""
    if readme.count(README_BEGIN) != 1:
        raise ValueError(f"README needs exactly one {README_BEGIN!r} block")
    return README_BEGIN + readme.split(README_BEGIN)[1].split(README_END)[0] + README_END
