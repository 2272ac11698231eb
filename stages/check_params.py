"""DVC stage ``check_params``: validate params.yaml before any work and record the resolved values.

    python -m stages.check_params      # writes reports/params.json
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from pipelines.common.io import write_json
from pipelines.params import load_params
from pipelines.params.model_check import check_model_params


def main() -> None:
    """Validate params.yaml before any work and record the resolved values."""
    params = load_params()
    check_model_params(params)  # model.overrides against the model code
    resolved = {name: dataclasses.asdict(section) for name, section in params.sections.items()}
    write_json(Path(params.common.reports_dir) / "params.json", resolved)
    print(f"params.yaml ok (profile {params.common.profile})")


if __name__ == "__main__":
    typer.run(main)
