"""``sastnet`` command line: profiles, params checks, and tracing clips with a registered model.

    sastnet profile paper      # params.yaml <- profiles/paper.yaml (validated first)
    sastnet profile            # list profiles and show the active one
    sastnet check-params       # validate params.yaml
    sastnet trace clip.wav     # which codec family made it? (registered champion model)
    sastnet serve              # the same records over HTTP (MLflow scoring server, 127.0.0.1:5001)
    sastnet export models:/sastnet-aux@champion OUT   # safetensors, card, ONNX (docs/export.md)
    sastnet knn attribute clip.wav / sastnet knn enrol NAME DIR   # training-free kNN (docs/knn.md)
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import typer

from pipelines.params import PROFILES_DIR, ParamsError, load_params

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
from pipelines.knn.cli import app as knn_app  # noqa: E402  (sastnet knn attribute / enrol)

app.add_typer(knn_app, name="knn")


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
    from pipelines.params.model_check import check_model_params

    try:
        params = load_params(params_file)
        check_model_params(params)
    except ParamsError as err:
        typer.echo(f"invalid params: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{params_file}: ok (profile {params.common.profile}, sections: "
               f"{', '.join(params.sections)})")


def _model_specs(task: str, model: list[str]) -> dict[str, str | None]:
    """``--task`` (``aux``, ``vq,dec``, ``all``) and ``--model`` values -> spec per task."""
    from sastnet.taxonomy import TASKS

    tasks = list(TASKS) if task == "all" else [t.strip() for t in task.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise typer.BadParameter(f"unknown task(s) {unknown}; use {', '.join(TASKS)} or all",
                                 param_hint="--task")
    specs: dict[str, str | None] = {t: None for t in tasks}
    for value in model:
        key, sep, spec = value.partition("=")
        if sep and key in TASKS:
            if key not in specs:
                raise typer.BadParameter(f"{value}: task {key} is not among --task {task}",
                                         param_hint="--model")
            specs[key] = spec
        elif len(tasks) == 1:
            specs[tasks[0]] = value
        else:
            raise typer.BadParameter(f"{value}: with several tasks, give --model TASK=SPEC",
                                     param_hint="--model")
    return specs


@app.command()
def trace(paths: list[str] = typer.Argument(..., help="audio files, folders (recursive), globs, "
                                            "or manifests (.txt/.lst lines, .csv/.parquet 'path')"),
          task: str = typer.Option("aux", help="vq | aux | dec | bin, a comma list, or all"),
          model: list[str] = typer.Option(None, help="registry URI, MLflow run id, checkpoint "
                                          "folder or export folder (`sastnet export`) "
                                          "(TASK=SPEC with several tasks) "
                                          "[default: models:/sastnet-<task>@champion]"),
          rm_sil: bool = typer.Option(False, "--rm-sil", help="score speech only (silero-vad)"),
          fmt: str = typer.Option("table", "--format", help="table | json | csv"),
          batch_size: int = typer.Option(16, min=1, help="windows per forward pass"),
          ood_confidence: float = typer.Option(0.5, help="flag clips whose top probability is "
                                               "below this as out of distribution"),
          knn_index: Path = typer.Option(None, help="kNN index for the open-set flag (docs/knn.md) "
                                         "[default: knn.enrolled_dir, else knn.index_dir, "
                                         "when present]"),
          no_knn: bool = typer.Option(False, "--no-knn", help="no kNN: ood from confidence only"),
          output: Path = typer.Option(None, help="write the output here instead of stdout"),
          whisper: str = typer.Option(None, help="Whisper dir for Whisper-based models "
                                      "[default: features.model of params.yaml]"),
          backend: str = typer.Option("torch", help="torch | onnx: ONNX Runtime, for export "
                                      "folders (`sastnet export`) with a model.onnx")) -> None:
    """Trace audio files: class, probabilities and codec family per file (docs/trace.md).

    Exit status: 0 all files scored, 1 some file failed (its row says why), 2 bad usage or model.
    """
    from pipelines.common.io import atomic_path, write_text
    from pipelines.trace import (
        TraceOptions,
        expand_paths,
        load_trace_model,
        trace_files,
        trace_report,
    )
    from pipelines.trace.knn import KnnOpenSet, find_knn_index
    from pipelines.trace.render import print_table, to_csv, to_json

    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"{fmt!r}: use table, json or csv", param_hint="--format")
    from pipelines.export import is_export_folder
    from pipelines.params.train import TrainParams
    from pipelines.trace.models import PickleRefusedError

    specs = _model_specs(task, model or [])
    params = load_params() if Path("params.yaml").exists() else None
    # Whisper exactly as the features stage ran it
    features = dataclasses.asdict(params.features) if params else None
    if whisper:  # a path given on the command line is the user's: relative to the cwd
        given = Path(whisper).expanduser()
        given_dir = str(given.resolve()) if given.exists() else whisper  # else a hub id
        features = {**(features or {}), "model": given_dir}
    # only versions trained in this project's experiment are loaded (README "Security")
    experiment = (params.train if params else TrainParams()).mlflow_experiment
    if backend not in ("torch", "onnx"):
        raise typer.BadParameter(f"{backend!r}: use torch or onnx", param_hint="--backend")
    models = {}
    for t, spec in specs.items():
        try:
            if spec is not None and is_export_folder(spec):
                models[t] = _exported_trace_model(spec, t, backend)
                continue
            if backend != "torch":
                raise ValueError(f"--backend {backend} needs an export folder (`sastnet export`) "
                                 f"as --model, not {spec or 'the registry champion'}")
            models[t] = load_trace_model(spec, t, experiment)
        except FileNotFoundError as err:
            if task == "all" and spec is None:  # `all`: every task that has a model
                typer.echo(f"note: no {t} model, task skipped ({str(err).split(':')[0]})", err=True)
                continue
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except (ValueError, PickleRefusedError) as err:  # ForeignModelError is a ValueError
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        if features and (whisper or models[t].features is None):
            models[t].features = features
            models[t].origins = (Path.cwd(), *models[t].origins)  # params.yaml of the cwd
        try:
            models[t].locate_whisper()
        except FileNotFoundError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
    if not models:
        typer.echo("error: no model for any task: train and register one first (`dvc repro`)",
                   err=True)
        raise typer.Exit(2)
    try:
        files = expand_paths(paths)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if not files:
        typer.echo(f"error: no audio files in {' '.join(paths)}", err=True)
        raise typer.Exit(2)
    roots = tuple(dict.fromkeys(root for m in models.values() for root in m.origins))
    try:
        index = None if no_knn else find_knn_index(knn_index, roots)
        open_set = KnnOpenSet(index) if index is not None else None
        records = trace_files(files, models, TraceOptions(rm_sil=rm_sil, batch_size=batch_size,
                                                          ood_confidence=ood_confidence,
                                                          knn_index=open_set))
    except FileNotFoundError as err:  # a missing input is a row: this is the model's or index's
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    if fmt == "table":
        from rich.console import Console

        if output:
            with atomic_path(output) as tmp, open(tmp, "w") as fh:
                print_table(records, models, Console(file=fh, width=160))
        else:
            print_table(records, models)
    else:
        text = to_json(trace_report(records, models)) if fmt == "json" else to_csv(records, models)
        if output:
            write_text(output, text)  # atomic: a reader never sees half a report
        else:
            typer.echo(text)
    failed = [r for r in records if r["status"] == "error"]
    if failed:
        typer.echo(f"{len(failed)} of {len(records)} file(s) failed", err=True)
        raise typer.Exit(1)


@app.command()
def serve(model: str = typer.Option(None, help="registry URI or runs:/ URI of a trace model "
                                    "[default: models:/sastnet-<task>@champion]"),
          task: str = typer.Option("aux", help="vq | aux | dec | bin (for the default model)"),
          host: str = typer.Option("127.0.0.1", help="127.0.0.1: this machine only; 0.0.0.0 "
                                   "only behind something that authenticates"),
          port: int = typer.Option(5001, help="port to listen on"),
          knn_index: Path = typer.Option(None, help="kNN index for the open-set column "
                                         "[default: found as `sastnet trace` finds it]"),
          no_knn: bool = typer.Option(False, "--no-knn", help="no kNN: ood from confidence only"),
          timeout_s: int = typer.Option(300, help="seconds one request may take")) -> None:
    """Serve a registered trace model over HTTP: the records `sastnet trace` gives (docs/trace.md).

    MLflow's scoring server (`POST /invocations`, `GET /ping`), run in this process: it needs no
    `uvicorn` on PATH and no PYTHONPATH. Exit status: 2 bad model, index or usage.
    """
    import os

    import mlflow
    import uvicorn
    from mlflow.exceptions import MlflowException

    from pipelines.params.train import TrainParams
    from pipelines.trace.models import PickleRefusedError
    from pipelines.trace.pyfunc import build_server
    from pipelines.tracking.runs import default_tracking_uri

    params = load_params() if Path("params.yaml").exists() else None
    experiment = (params.train if params else TrainParams()).mlflow_experiment
    uri = model or f"models:/sastnet-{task}@champion"
    os.environ.setdefault("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", str(timeout_s))
    mlflow.set_tracking_uri(default_tracking_uri())  # MLFLOW_TRACKING_URI, else the repo's store
    try:
        app_ = build_server(uri, experiment, "none" if no_knn else (
            str(knn_index.resolve()) if knn_index else None))
    except (MlflowException, OSError, ValueError, PickleRefusedError) as err:
        typer.echo(f"error: cannot serve {uri} (tracking store {mlflow.get_tracking_uri()}): "
                   f"{err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"serving {uri} on http://{host}:{port}/invocations (docs/trace.md)", err=True)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def _exported_trace_model(folder: str, task: str, backend: str):
    """The trace model of an export folder; its task must be the one asked for."""
    from pipelines.export import load_model

    exported = load_model(folder, backend=backend)
    if exported.task != task:
        raise ValueError(f"{folder} is a {exported.task} model, not {task}: pass --task "
                         f"{exported.task}")
    return exported.trace_model


@app.command("export")
def export(model: str = typer.Argument(..., help="registry URI (models:/sastnet-aux@champion), "
                                       "MLflow run id, or training folder (models/aux/sastnet/"
                                       "seed2)"),
           out_dir: Path = typer.Argument(..., help="folder to write (new, empty, or an older "
                                          "export, which is replaced)"),
           task: str = typer.Option(None, help="vq | aux | dec | bin [default: from the model]"),
           onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="also write model.onnx "
                                     "(checked against PyTorch)"),
           run_dir: Path = typer.Option(Path("."), help="the checkout of the run that trained "
                                        "it: its reports/ and metrics/ make the model card"),
           whisper: str = typer.Option(None, help="Whisper dir, for Whisper-based models "
                                       "[default: features.model of params.yaml]")) -> None:
    """Export a trained model: safetensors + config.json + model card (+ ONNX) (docs/export.md).

    Exit status: 0 written, 2 bad usage, model or folder.
    """
    from pipelines.export.source import load_export_source
    from pipelines.export.writer import write_export
    from pipelines.params.train import TrainParams
    from pipelines.trace.models import PickleRefusedError

    params_file = run_dir / "params.yaml"
    params = load_params(params_file) if params_file.exists() else None
    features = dataclasses.asdict(params.features) if params else None
    if whisper:
        features = {**(features or {}), "model": whisper}
    reports_dir = run_dir / (params.common.reports_dir if params else "reports")
    experiment = (params.train if params else TrainParams()).mlflow_experiment
    try:
        src = load_export_source(model, task, mlflow_experiment=experiment,
                                 reports_dir=reports_dir, features=features)
        config = write_export(src, out_dir, run_dir=run_dir, reports_dir=reports_dir, onnx=onnx)
    except (FileNotFoundError, FileExistsError, ValueError, PickleRefusedError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except RuntimeError as err:  # the ONNX parity check or the no-pickle check failed
        typer.echo(f"error: export failed, {out_dir} left as it was: {err}", err=True)
        raise typer.Exit(1) from None
    parity = (config.get("onnx") or {}).get("parity_max_abs_diff")
    calibrated = f"T={config['temperature']:.4g}" if config["temperature"] else "uncalibrated"
    onnx_note = f"model.onnx (max |ONNX - PyTorch| {parity:.1e})" if onnx else "no ONNX"
    typer.echo(f"{out_dir}: {config['task']} {config['source']['variant']} from {model}, "
               f"{calibrated}; {onnx_note}; model card {out_dir / 'README.md'}")


if __name__ == "__main__":
    app()
