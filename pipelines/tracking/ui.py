"""The MLflow UI as a user sees it: ``mlflow ui`` on a store, opened in headless Chromium.

    python -m pipelines.tracking.ui serve --store mlflow.db                # the UI; Ctrl-C stops it
    python -m pipelines.tracking.ui urls --store mlflow.db                 # the pages to open
    python -m pipelines.tracking.ui screenshots --store mlflow.db --out docs/img/mlflow
    python -m pipelines.tracking.ui check --store mlflow.db                # exit 1 on a problem

``check`` and ``screenshots`` start ``mlflow ui`` on the store (a free local port), open the
training experiment's runs page (its saved view, ``pipelines.tracking.experiments``), a run
page and its confusion matrices, the parent runs' comparison and the champion's registry
page, and check what a reader must find there: the named runs with their dev macro F1, the
confusion matrix artifacts, the ``champion`` alias. ``tests/test_mlflow_ui_browser.py`` runs
the same checks on a store it builds. ``serve`` runs the UI for a person and stops every process
it started on SIGTERM, SIGINT or SIGHUP (``pipelines.tracking.ui_server``).

The browser is Debian's Chromium with its chromedriver (``apt-get install chromium
chromium-driver``; ``scripts/setup.sh`` installs them), driven by selenium (the ``dev``
extra); nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer
from mlflow.tracking import MlflowClient

from pipelines.tracking.experiments import runs_view_url
from pipelines.tracking.groups import CHILDREN_TAG
from pipelines.tracking.registry import CHAMPION
from pipelines.tracking.ui_server import GRACE_S, mlflow_ui
from pipelines.tracking.ui_server import serve as serve_ui

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("chromedriver", "/usr/lib/chromium/chromedriver")
DEV_METRIC = "dev/best_macro_f1"  # the column a reader compares runs by
ML_MODE = "?workflowType=machine_learning"  # the UI's machine learning mode, not GenAI
NAME_COLUMN = "attributes.`Run Name`"  # the runs table's column id of the run names


def find_chromium() -> tuple[str, str] | None:
    """(browser, chromedriver) executables, or None when either is missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    driver = next((p for p in map(shutil.which, CHROMEDRIVER) if p), None)
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def headless_chromium(width: int = 1600, height: int = 1000):
    """A selenium WebDriver on Debian's headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise FileNotFoundError("chromium or chromedriver not found on PATH: apt-get install "
                                "chromium chromium-driver (scripts/setup.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--lang=en-US", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass(frozen=True)
class Pages:
    """The store's pages a reader opens, found through the tracking API."""

    experiment_id: str
    run_id: str  # a training run (a child of a group)
    run_name: str
    run_names: tuple[str, ...]  # every training run
    parent_names: tuple[str, ...]
    model: str | None  # the registered model holding the champion alias
    champion: str | None


def find_pages(client: MlflowClient, experiment: str = "sastnet") -> Pages:
    """The training experiment's runs, one training run and the champion's registry entry."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise LookupError(f"no experiment {experiment!r} in the store")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if CHILDREN_TAG in r.data.tags]
    trainings = [r for r in runs if CHILDREN_TAG not in r.data.tags]
    if not trainings:
        raise LookupError(f"experiment {experiment!r} holds no training run")
    model = champion = None
    for registered in client.search_registered_models():
        if CHAMPION in (registered.aliases or {}):
            model, champion = registered.name, str(registered.aliases[CHAMPION])
            break
    run = client.get_model_version(model, champion).run_id if model else trainings[0].info.run_id
    return Pages(exp.experiment_id, run, client.get_run(run).info.run_name,
                 tuple(dict.fromkeys(r.info.run_name for r in trainings)),  # a rerun: one name
                 tuple(dict.fromkeys(r.info.run_name for r in parents)), model, champion)


def page_urls(base: str, pages: Pages) -> dict[str, str]:
    """Name -> URL of each page worth opening (and screenshotting)."""
    run = f"{base}/#/experiments/{pages.experiment_id}/runs/{pages.run_id}"
    urls = {"runs": runs_view_url(base, pages.experiment_id),
            "run": f"{run}{ML_MODE}",
            "run_confusion": f"{run}/artifacts{ML_MODE}",
            "compare": runs_view_url(base, pages.experiment_id) + "&compareRunsMode=CHART"}
    if pages.model:
        urls["champion"] = f"{base}/#/models/{pages.model}/versions/{pages.champion}{ML_MODE}"
    return urls


def _body_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for(driver, wanted: list[str], timeout_s: float = 30.0) -> list[str]:
    """Wait until the page shows every string of ``wanted``; returns those still missing."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = _body_text(driver)
        missing = [w for w in wanted if w not in text]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


# The runs table's rows, as {row index: {column id: text}} (an AG Grid: a row is split over
# the pinned and the scrolling containers, each holding the same row index).
_TABLE_JS = """
const rows = {};
document.querySelectorAll('.ag-row').forEach(row => {
  const i = row.getAttribute('row-index');
  rows[i] = rows[i] || {};
  row.querySelectorAll('.ag-cell').forEach(cell => {
    rows[i][cell.getAttribute('col-id')] = cell.innerText.trim();
  });
});
return rows;
"""
# Click one collapsed parent's expander (a "+" icon in its name cell); true when one was found.
_EXPAND_JS = """
for (const button of document.querySelectorAll('.ag-cell[col-id="NAME"] button')) {
  if (button.innerHTML.includes('M7.25 7.25V4.5')) { button.click(); return true; }
}
return false;
""".replace("NAME", NAME_COLUMN)
# Panels in the way of a screenshot: MLflow's assistant (it opens itself on a first visit)
# and the banner of a shared view.
_CLOSE = ("mlflow.assistant.chat_panel.close", "mlflow.experiment_page.shared_view.dismiss")


def tidy(driver) -> None:
    """Close the assistant panel and the shared view banner when they are open."""
    from selenium.webdriver.common.by import By

    for component in _CLOSE:
        for button in driver.find_elements(By.CSS_SELECTOR, f'[data-component-id="{component}"]'):
            with contextlib.suppress(Exception):  # gone or covered: nothing to close
                button.click()


def expand_parents(driver, timeout_s: float = 30.0) -> None:
    """Expand every parent run of the runs table, so its seeds show below it (the UI keeps
    this per browser: a saved view cannot carry it)."""
    deadline = time.monotonic() + timeout_s
    while driver.execute_script(_EXPAND_JS) and time.monotonic() < deadline:
        time.sleep(0.5)  # the grid re-renders its rows


def runs_table_values(driver, base: str, pages: Pages, metric: str,
                      timeout_s: float = 90.0) -> dict[str, str]:
    """Open the runs view, expand the parents and read ``metric``'s column: {run name: text}."""
    driver.get(runs_view_url(base, pages.experiment_id))
    wait_for(driver, [*pages.parent_names, metric], timeout_s)
    expand_parents(driver)
    column = f"metrics.`{metric}`"
    deadline = time.monotonic() + timeout_s
    while True:  # the cells fill in after the header
        rows = driver.execute_script(_TABLE_JS).values()
        # the name cell also holds the run's colour; an empty cell reads "-"
        values = {row[NAME_COLUMN].splitlines()[-1]: row.get(column, "").strip("-")
                  for row in rows if row.get(NAME_COLUMN)}
        if set(pages.run_names) <= set(values) or time.monotonic() > deadline:
            return values  # the rows come with their values: an empty cell stays empty
        time.sleep(0.5)


def check_pages(driver, base: str, pages: Pages, out_dir: Path | None = None,
                timeout_s: float = 90.0) -> list[str]:
    """Open each page, wait for what it must show, screenshot it into ``out_dir``; and read
    the runs table's dev macro F1 column: every training run must have a value.

    Returns the problems found (empty when every page shows what it must).
    """
    urls = page_urls(base, pages)
    wanted = {
        "runs": [*pages.parent_names, *pages.run_names, DEV_METRIC],
        "run": [pages.run_name, DEV_METRIC],
        "run_confusion": ["confusion_dev.png", "cm_"],
        "compare": [*pages.parent_names, DEV_METRIC.split("/")[0]],
        "champion": [f"@ {CHAMPION}"],
    }
    problems = [] if pages.model else [f"no registered model has the {CHAMPION!r} alias"]
    for name, url in urls.items():
        driver.get(url)
        wait_for(driver, wanted[name][:1], timeout_s)  # the page is there
        tidy(driver)
        if name == "runs":
            expand_parents(driver)
        elif name == "run_confusion":
            _open_confusion(driver, timeout_s)
        missing = wait_for(driver, wanted[name], timeout_s if name != "champion" else 10)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out_dir / f"{name}.png"))
        problems += [f"{name} page ({url}) does not show {m!r}" for m in missing]
    values = runs_table_values(driver, base, pages, DEV_METRIC, timeout_s)
    problems += [f"runs page: run {run!r} shows no {DEV_METRIC}" for run in pages.run_names
                 if not values.get(run)]
    return problems


def _open_confusion(driver, timeout_s: float) -> None:
    """In a run's artifact browser, open ``plots/`` then ``plots/confusion/`` and show the
    first test set's matrix."""
    from selenium.webdriver.common.by import By

    for folder in ("plots", "confusion"):
        wait_for(driver, [folder], timeout_s)
        for node in driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{folder}']"):
            with contextlib.suppress(Exception):
                node.click()
                break
        time.sleep(1)
    for node in driver.find_elements(By.XPATH, "//*[starts-with(normalize-space(text()), 'cm_')]"):
        with contextlib.suppress(Exception):
            node.click()
            break
    time.sleep(2)


app = typer.Typer(add_completion=False, help=__doc__.split("\n")[0])


def _client(store: Path) -> MlflowClient:
    if not store.is_file():
        raise typer.BadParameter(f"{store}: no such SQLite store (a finished run's mlflow.db)")
    return MlflowClient(tracking_uri=f"sqlite:///{store.resolve()}")


@app.command()
def serve(store: Path = typer.Option(Path("mlflow.db"), help="SQLite MLflow store"),
          host: str = typer.Option("127.0.0.1", help="address to listen on"),
          port: int = typer.Option(5000, help="port to listen on"),
          workers: int = typer.Option(1, help="uvicorn workers"),
          grace_s: float = typer.Option(GRACE_S, help="seconds before what is left is killed")) -> None:
    """Run `mlflow ui` on the store until Ctrl-C / SIGTERM / SIGHUP, then stop every process it
    started (a second Ctrl-C kills them at once)."""
    if not store.is_file():
        raise typer.BadParameter(f"{store}: no such SQLite store (a finished run's mlflow.db)")
    raise typer.Exit(serve_ui(store, host=host, port=port, workers=workers, grace_s=grace_s))


@app.command()
def urls(store: Path = typer.Option(Path("mlflow.db"), help="SQLite MLflow store"),
         base: str = typer.Option("http://127.0.0.1:5000", help="where `mlflow ui` listens"),
         experiment: str = typer.Option("sastnet", help="the training experiment")) -> None:
    """Print the pages worth opening in `mlflow ui --backend-store-uri sqlite:///<store>`."""
    for name, url in page_urls(base, find_pages(_client(store), experiment)).items():
        print(f"{name:14s} {url}")


@app.command()
def check(store: Path = typer.Option(Path("mlflow.db"), help="SQLite MLflow store"),
          experiment: str = typer.Option("sastnet", help="the training experiment")) -> None:
    """Open the pages in headless Chromium; exit 1 when one lacks what it must show."""
    pages = find_pages(_client(store), experiment)
    with mlflow_ui(store) as base, headless_chromium() as driver:
        problems = check_pages(driver, base, pages)
    print("\n".join(problems) or "the MLflow UI shows the runs, their metrics and confusion "
          "matrices, and the champion")
    if problems:
        raise typer.Exit(1)


@app.command()
def screenshots(store: Path = typer.Option(Path("mlflow.db"), help="SQLite MLflow store"),
                out: Path = typer.Option(Path("docs/img/mlflow"), help="folder for the PNGs"),
                experiment: str = typer.Option("sastnet", help="the training experiment")) -> None:
    """Screenshot the runs table, a run, its confusion matrices, the parent comparison and the
    champion's version; exit 1 when a page lacks what it must show."""
    pages = find_pages(_client(store), experiment)
    with mlflow_ui(store) as base, headless_chromium() as driver:
        problems = check_pages(driver, base, pages, out)
    print(f"screenshots in {out}: " + ", ".join(sorted(p.name for p in out.glob("*.png"))))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
