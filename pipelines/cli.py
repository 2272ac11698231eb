"""``sastnet`` command line: profiles, params checks, and tracing clips with a registered model.

    sastnet profile paper      # params.yaml <- profiles/paper.yaml (validated first)
    sastnet profile            # list profiles and show the active one
    sastnet check-params       # validate params.yaml
    sastnet trace clip.wav     # which codec family made it? (registered champion model)
"""

from __future__ import annotations

import dataclasses
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


@app.command()
def trace(clips: list[Path] = typer.Argument(..., help="16 kHz mono audio files"),
          task: str = typer.Option("aux", help="vq | aux | dec | bin"),
          model_uri: str = typer.Option(None, help="MLflow model URI "
                                        "[default: models:/sastnet-<task>@champion]"),
          whisper: str = typer.Option(None, help="Whisper dir or hub id [default: from params]"),
          output: Path = typer.Option(None, help="also write the table to this CSV")) -> None:
    """Trace clips: class probabilities per clip from a registered model."""
    from rich.console import Console
    from rich.table import Table

    from pipelines.common.audio_io import AudioError
    from pipelines.whisper.features import FeatureWorker
    from pipelines.params.features import FeaturesParams
    from pipelines.evaluate.trace import load_registered, trace_clips

    # Whisper features exactly as the features stage computed them for training.
    from pipelines.params.train import TrainParams

    params = load_params() if Path("params.yaml").exists() else None
    features = params.features if params else FeaturesParams()
    if whisper:
        features = dataclasses.replace(features, model=whisper)
    # only versions trained in this project's experiment are loaded (README "Security")
    experiment = (params.train if params else TrainParams()).experiment
    from pipelines.evaluate.trace import PickleRefusedError
    from pipelines.tracking.registry import ForeignModelError

    try:
        scorer = load_registered(model_uri or f"models:/sastnet-{task}@champion", experiment)
    except (ForeignModelError, PickleRefusedError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    whisper_fn = FeatureWorker(features).encode if scorer.whisper_dim else None
    try:
        df = trace_clips(clips, task, scorer, whisper_fn)
    except AudioError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=f"{task.upper()} source tracing")
    for col in df.columns:
        table.add_column(col)
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    Console().print(table)
    if output is not None:
        df.to_csv(output, index=False)


if __name__ == "__main__":
    app()
