"""``sastnet knn``: attribute clips with the kNN support index; enrol a new system.

    sastnet knn attribute clip.flac more/clips/        # system, distance, unknown flag, family
    sastnet knn enrol my_codec path/to/its/clips/      # add a system without retraining
    sastnet knn systems                                # what the index knows

The index is ``knn.index_dir`` (``data/knn/index``, made by `dvc repro knn`); enrolments go to
``knn.enrolled_dir`` (``data/knn/enrolled``), which ``attribute`` reads first when it exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _dirs() -> tuple[Path, Path]:
    from pipelines.params import load_params
    from pipelines.params.knn import KnnParams

    cfg = load_params().knn if Path("params.yaml").exists() else KnnParams()
    return Path(cfg.index_dir), Path(cfg.enrolled_dir)


def index_path(index: Path | None) -> Path:
    if index is not None:
        return index
    base, enrolled = _dirs()
    return enrolled if (enrolled / "meta.json").is_file() else base


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()  # no weight-loading bars between the answers


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


@app.command()
def attribute(paths: list[Path] = typer.Argument(..., help="audio files or folders (16 kHz mono)"),
              index: Path = typer.Option(None, help="index folder [default: the enrolled index "
                                         "if any, else knn.index_dir]"),
              as_json: bool = typer.Option(False, "--json", help="print JSON lines")) -> None:
    """Which system made each clip: nearest system, distance, open-set flag, nearest family."""
    from pipelines.common.audio_io import AudioError
    from pipelines.knn.index import IndexEncoder, audio_files, load_index

    _quiet_transformers()
    try:
        support = load_index(index_path(index))
        files = audio_files(paths)
        if not files:
            raise FileNotFoundError(f"no audio files in {', '.join(map(str, paths))}")
        answers = support.attribute(IndexEncoder(support.meta)(files))
    except (FileNotFoundError, AudioError, ValueError) as err:
        _fail(err)
    for path, ans in zip(files, answers):
        if as_json:
            typer.echo(json.dumps({"path": str(path), **ans}))
        else:
            verdict = (f"unknown (nearest {ans['system']})" if ans["unknown"] else ans["system"])
            typer.echo(f"{path}\t{verdict}\tdistance {ans['distance']:.4f} "
                       f"(threshold {ans['threshold']:.4f})\tfamily {ans['vq']}/{ans['aux']}/"
                       f"{ans['dec']}")


@app.command()
def enrol(name: str = typer.Argument(..., help="name of the new system"),
          folder: Path = typer.Argument(..., help="folder (or file) of the system's clips"),
          index: Path = typer.Option(None, help="index to extend [default: the enrolled index "
                                     "if any, else knn.index_dir]"),
          out: Path = typer.Option(None, help="where to write [default: knn.enrolled_dir]")) -> None:
    """Add a system to the support index from its clips; nothing is retrained."""
    from pipelines.common.audio_io import AudioError
    from pipelines.knn.index import IndexEncoder, audio_files, load_index

    _quiet_transformers()
    try:
        support = load_index(index_path(index))
        files = audio_files([folder])
        if not files:
            raise FileNotFoundError(f"{folder}: no audio files (.flac, .wav, .ogg, .mp3)")
        vectors = IndexEncoder(support.meta)(files)
    except (FileNotFoundError, AudioError, ValueError) as err:
        _fail(err)
    target = out or _dirs()[1]
    support.enrol(name, vectors, [str(f) for f in files]).save(target)
    typer.echo(f"enrolled {name!r}: {len(files)} clips -> {target}")


@app.command()
def systems(index: Path = typer.Option(None, help="index folder")) -> None:
    """The systems in the index, with their clip counts."""
    from pipelines.knn.index import load_index

    try:
        support = load_index(index_path(index))
    except FileNotFoundError as err:
        _fail(err)
    import numpy as np

    names, counts = np.unique(support.columns["systems"], return_counts=True)
    for n, c in zip(names, counts):
        typer.echo(f"{n}\t{c} clips{' (enrolled)' if n in support.meta.get('enrolled', []) else ''}")
