"""Release ingestion errors print as one plain message with the right fix per cause (issue 39:
a missing or corrupt file stopped the corpus stage inside a ~50-line Rich traceback box, and a
corrupt file was answered with "fix audio_root/cors_dir": wrong advice, the paths were right).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.corpus.codecfake_plus import (
    BadAudioError,
    prepare_codecfake_plus,
    read_release_lists,
)
from pipelines.params.corpus import CodecFakePlusParams
from tests.codecfake_release import build_fake_release

ROOT = Path(__file__).resolve().parents[1]


def _release(tmp_path: Path) -> dict:
    return build_fake_release(tmp_path / "release")


def _corpus_stage(tmp_path: Path, release: dict) -> subprocess.CompletedProcess:
    params = {"common": {"data_dir": "d", "reports_dir": "r"},
              "corpus": {"source": "codecfake_plus", "codecfake_plus": release}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stages.corpus"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _plain(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text and "╭" not in text, text[-3000:]
    assert text.count("corpus error: ") == 1, text[-3000:]
    return proc.stderr[proc.stderr.index("corpus error: "):]  # after the progress bar


def test_a_missing_file_names_the_paths_settings(tmp_path):
    release = _release(tmp_path)
    (Path(release["audio_root"]) / "all_data_16k" / "p260_075.flac").unlink()
    err = _plain(_corpus_stage(tmp_path, release))
    assert err.startswith("corpus error: 1 of ")
    assert "1 missing" in err and "all_data_16k/p260_075.{flac,wav} (missing)" in err
    assert "audio_root / cors_dir / cosg_dir / audio_extensions" in err
    assert "damaged" not in err
    assert not (tmp_path / "d" / "corpus" / "manifest.parquet").exists()


def test_a_corrupt_file_is_told_to_be_replaced_not_the_paths(tmp_path):
    release = _release(tmp_path)
    (Path(release["audio_root"]) / "all_data_16k" / "p260_075.flac").write_bytes(b"not a flac")
    err = _plain(_corpus_stage(tmp_path, release))
    assert "1 damaged" in err and "p260_075.flac (unreadable" in err
    assert "intact copy from the release" in err
    assert "audio_root /" not in err and "missing" not in err  # no path advice for it


def test_a_missing_list_is_one_plain_message(tmp_path):
    release = _release(tmp_path)
    (Path(release["protocol_dir"]) / "CoSG_SEEN.txt").unlink()
    err = _plain(_corpus_stage(tmp_path, release))
    assert "CoSG_SEEN.txt: protocol list not found" in err
    assert "corpus.codecfake_plus.protocol_dir" in err


def test_both_causes_in_one_message_each_with_its_fix(tmp_path):
    release = _release(tmp_path)
    audio = Path(release["audio_root"]) / "all_data_16k"
    (audio / "p260_075.flac").unlink()
    (audio / "p260_075_Encodec_24b24k.flac").write_bytes(b"")
    with pytest.raises(BadAudioError) as err:
        prepare_codecfake_plus(CodecFakePlusParams(**release))
    missing, damaged = str(err.value).split("damaged", 1)
    assert "p260_075.{flac,wav} (missing)" in missing and "audio_root /" in missing
    assert "p260_075_Encodec_24b24k.flac (unreadable" in damaged or "(empty)" in damaged
    assert "intact copy" in damaged and "on_bad_audio: skip" in damaged


def test_the_test_list_clips_cors_all_lacks_are_counted(tmp_path):
    release = _release(tmp_path)
    _, log = read_release_lists(CodecFakePlusParams(**release))
    counted = log.as_dict()["cors_test_clips_not_in_cors_all"]
    # the fake release's test lists put Encodec_24b24k (absent from CoRS_ALL) first
    assert set(counted) >= {"Encodec_24b24k"} and all(n > 0 for n in counted.values())
