"""The MLflow UI in a real browser: ``mlflow ui`` on a small finished store built here
(tests/mlflow_ui_store.py), opened in Debian's headless Chromium (pipelines/tracking/ui.py).

Checks what a user comparing runs must see: the training runs page lists the named runs with
the dev macro F1 column (a value on every run), a run page lists its confusion matrices, the
registry shows the champion alias; and that the checks fail when a metric or the alias is
missing. Screenshots go to ``artifacts/tests/mlflow_ui/`` (``SASTNET_TEST_ARTIFACTS``
overrides ``artifacts/tests``). Skipped only when Chromium or chromedriver is not installed
(``scripts/setup.sh`` installs both).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipelines.tracking.ui import (
    check_pages,
    find_chromium,
    find_pages,
    headless_chromium,
    mlflow_ui,
    page_urls,
    runs_table_values,
    wait_for,
)
from tests.mlflow_ui_store import MODEL, SEEDS, VARIANTS, build_store

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SASTNET_TEST_ARTIFACTS", REPO / "artifacts" / "tests"))

pytestmark = [
    pytest.mark.slow,  # an MLflow store, a server and a browser: ~30 s
    pytest.mark.skipif(find_chromium() is None,
                       reason="chromium / chromedriver not installed (apt-get install chromium "
                              "chromium-driver; scripts/setup.sh installs them)"),
]


def test_runs_table_run_page_and_champion_in_headless_chromium(tmp_path):
    store = build_store(tmp_path)
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    pages = find_pages(client)
    out = ARTIFACTS / "mlflow_ui"
    with mlflow_ui(store) as base, headless_chromium() as driver:
        assert check_pages(driver, base, pages, out) == []
        values = runs_table_values(driver, base, pages, "dev/best_macro_f1")
        names = {f"aux/{v}/seed{s}" for v in VARIANTS for s in SEEDS} | {f"aux/{v}" for v in VARIANTS}
        assert set(values) == names and all(values.values()), values

        # a training run without its dev metric, and no champion alias: the checks say so
        broken = client.create_run(pages.experiment_id, run_name="aux/sastnet/seed9",
                                   tags={"task": "aux", "variant": "sastnet", "seed": "9"})
        client.set_terminated(broken.info.run_id)
        client.delete_registered_model_alias(MODEL, "champion")
        problems = check_pages(driver, base, find_pages(client), out / "broken", timeout_s=30)
        assert "runs page: run 'aux/sastnet/seed9' shows no dev/best_macro_f1" in problems
        assert "no registered model has the 'champion' alias" in problems
        driver.get(page_urls(base, pages)["champion"])  # the former champion's version page
        assert wait_for(driver, ["Version", pages.run_name], 30) == []
        assert wait_for(driver, ["@ champion"], 5) == ["@ champion"]
    assert {p.name for p in out.glob("*.png")} >= {"runs.png", "run.png", "run_confusion.png",
                                                   "compare.png", "champion.png"}
