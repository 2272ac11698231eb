"""DVC stage ``features_rm_sil``: Whisper features of the silence-removed view of the CoRS test
clips (the paper's silence experiment, Tables II and III).

    python -m stages.features_rm_sil   # data/shards -> data/features_rm_sil, reports/features_rm_sil.json

The same code as ``stages.features`` with the loader's speech-only view (``rm_sil``); resumable
in the same way (``persist: true``).
"""

from __future__ import annotations

import typer

from pipelines.common.process import stage_process
from pipelines.params import load_params
from stages.features import write_features

SPLITS = ["test_seen", "test_unseen"]  # the CoRS test views predict reads rm_sil features for


def main() -> None:
    """Whisper features of the silence-removed test clips."""
    write_features(load_params(), "features_rm_sil", rm_sil=True, splits=SPLITS)


if __name__ == "__main__":
    with stage_process("features_rm_sil"):
        typer.run(main)
