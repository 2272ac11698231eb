"""summary.md and the README's Performance block: rendered from the result files, never typed."""

import json
from pathlib import Path

import pytest

from benchmarks.measure import Figure, Side
from benchmarks.summary import (
    README_BEGIN,
    README_END,
    TABLE_HEAD,
    current_readme_block,
    figure_row,
    fmt,
    headline_table,
    legacy_results,
    load_results,
    readme_block,
    render_summary,
    replace_readme_block,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def result(name="b", figure="B2", quiet=True, figures=None):
    fig = Figure("B2.x", "loader", "clips/s", True, Side("files", 100.0, 90.0, 0.25, 3),
                 Side("shards", 250.0, 240.0, 0.1, 3), note="a note")
    return {"name": name, "figure": figure, "title": "t", "mode": "quick", "settings": {"n": 1},
            "status": "ok", "figures": figures if figures is not None else [fig.to_dict()],
            "details": {}, "notes": ["n1"], "tables": ["| a |\n| --- |"], "wall_s": 12.0,
            "finished": "2026-12-02T10:00:00+00:00",
            "machine": {"cpu": "CPU", "cpu_cores": 2, "memory_gb": 8.0, "nice": 0,
                        "load_average_before": [0.1, 0, 0], "load_average_after": [1.0, 0, 0],
                        "packages": {"torch": "2"}, "quiet": quiet}}


def test_fmt_three_significant_digits():
    assert [fmt(x) for x in (0, 1234.5, 12.345, 1.2345, 0.012345)] == \
        ["0", "1234", "12.3", "1.23", "0.0123"]


def test_figure_row_shows_both_sides_ratio_and_spread():
    row = figure_row(result()["figures"][0])
    assert row == ("| B2.x | loader | files: 100 clips/s | shards: 250 clips/s | **2.50x** | "
                   "best of 3, spread 25% |")


def test_summary_flags_a_loaded_run_and_keeps_notes_and_tables():
    text = render_summary([result(quiet=False)], legacy=["old.json"])
    assert "Measured on a loaded or niced machine" in text
    assert "- B2.x: a note" in text and "- n1" in text and "| a |" in text
    assert "old.json" in text
    assert "loaded or niced" not in render_summary([result()])
    smoke = {**result(), "mode": "smoke"}
    assert "Smoke results" in render_summary([smoke]) and "not measurements" in readme_block([smoke])
    assert "Smoke results" not in render_summary([result()])


def test_readme_block_replacement_keeps_the_rest():
    readme = f"# x\n\n## Performance\n\n{README_BEGIN}\nold\n{README_END}\n\n## Next\n"
    new = replace_readme_block(readme, readme_block([result()]))
    assert new.startswith("# x\n\n## Performance\n\n") and new.endswith("\n\n## Next\n")
    assert "| B2.x |" in current_readme_block(new) and "old" not in new
    with pytest.raises(ValueError):
        replace_readme_block("no markers", "x")


def test_load_results_orders_by_figure_and_skips_legacy(tmp_path):
    (tmp_path / "z.json").write_text(json.dumps(result("z", "B1")))
    (tmp_path / "a.json").write_text(json.dumps(result("a", "B3")))
    (tmp_path / "old.json").write_text(json.dumps({"clips": 3}))
    assert [r["name"] for r in load_results(tmp_path)] == ["z", "a"]
    assert legacy_results(tmp_path) == ["old.json"]


def table_rows(text: str) -> list[str]:
    """The rows of the headline table (the first table whose header is ``TABLE_HEAD``)."""
    lines = text.splitlines()
    start = lines.index(TABLE_HEAD.splitlines()[0]) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        rows.append(line)
    return rows


def test_readme_performance_block_matches_summary_and_results():
    """The README's numbers are the summary's, and both are what the result files say."""
    results = load_results(RESULTS)
    readme = (ROOT / "README.md").read_text()
    block = current_readme_block(readme)
    summary = (RESULTS / "summary.md").read_text()
    assert table_rows(block) == table_rows(summary), \
        "README Performance block and benchmarks/results/summary.md disagree: run python -m benchmarks --summary-only"
    assert table_rows(summary) == table_rows(headline_table(results))
    assert block == readme_block(results)


def test_the_readme_check_catches_a_hand_edited_number():
    block = readme_block([result()])
    edited = block.replace("250 clips/s", "260 clips/s")
    assert table_rows(edited) != table_rows(headline_table([result()]))
