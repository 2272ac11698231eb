"""``sastnet`` command line: profiles and (later) tracing clips with a registered model.

    sastnet profile paper      # params.yaml <- profiles/paper.yaml (validated first)
    sastnet profile            # list profiles and show the active one
    sastnet check-params       # validate params.yaml
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from pipelines.params import PROFILES_DIR, ParamsError, load_params

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.command()
def profile(name: str = typer.Argument(None, help="profile to activate (profiles/<name>.yaml)"),
            params_file: Path = typer.Option(Path("params.yaml"), help="params file to write")) -> None:
    """Switch params.yaml to a shipped profile, or list the profiles."""
    available = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
    if name is None:
        active = load_params(params_file).common.profile if params_file.exists() else "-"
        typer.echo(f"profiles: {', '.join(available)}; active: {active}")
        return
    source = PROFILES_DIR / f"{name}.yaml"
    if not source.exists():
        raise typer.BadParameter(f"no profile {name!r}; available: {', '.join(available)}")
    load_params(source)  # validate before touching params.yaml
    shutil.copyfile(source, params_file)
    typer.echo(f"{params_file} <- {source}; now run `dvc repro`")


@app.command("check-params")
def check_params(params_file: Path = typer.Argument(Path("params.yaml"))) -> None:
    """Validate a params file; exit 2 naming the bad key."""
    try:
        params = load_params(params_file)
    except ParamsError as err:
        typer.echo(f"invalid params: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{params_file}: ok (profile {params.common.profile}, sections: "
               f"{', '.join(params.sections)})")


if __name__ == "__main__":
    app()
