"""DVC stage ``check_params``: validate every section of params.yaml before any other stage runs.

    python -m stages.check_params      # writes reports/params.json and reports/params.ok

Every other stage depends on ``reports/params.ok``, so ``dvc repro`` runs this stage first and
stops here on a params error, before DVC removes any other stage's outputs (DVC deletes a
stage's outputs before running its command). The marker's bytes never change, so a valid edit
reruns only the stages whose own params changed; ``reports/params.json`` holds the resolved
values (defaults filled in) for people to read.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import typer

from pipelines.common.io import write_json, write_text
from pipelines.common.process import stage_process
from pipelines.params import ParamsError, load_params
from pipelines.params.model_check import check_model_params

MARKER = "params.ok"
MARKER_TEXT = "params.yaml passed stages.check_params; every stage depends on this file\n"


def main(params_path: Path = Path("params.yaml")) -> None:
    """Validate every section of params.yaml (and model.overrides against the model code)."""
    try:
        params = load_params(params_path)
        check_model_params(params)
    except ParamsError as err:
        sys.exit(f"params error: {err}\nNothing else ran and no output was removed: fix "
                 f"{params_path} and rerun `dvc repro`.")
    reports = Path(params.common.reports_dir)
    resolved = {name: dataclasses.asdict(section) for name, section in params.sections.items()}
    write_json(reports / "params.json", resolved)
    write_text(reports / MARKER, MARKER_TEXT)
    print(f"params.yaml ok (profile {params.common.profile}, sections {', '.join(resolved)})")


if __name__ == "__main__":
    with stage_process("check_params"):
        typer.run(main)
