"""pipelines.common.io: atomic writes keep the old file on failure, and outputs get the umask's
permissions (not mkstemp's private 0600)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from pipelines.common.io import atomic_dir, atomic_path, file_sha256, write_json, write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_dirs_get_umask_permissions(tmp_path, umask_022):
    write_json(tmp_path / "a.json", {"x": 1})
    with atomic_path(tmp_path / "sub" / "b.bin") as tmp:
        tmp.write_bytes(b"123")
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "w.txt").write_text("w")
    assert _mode(tmp_path / "a.json") == 0o644
    assert _mode(tmp_path / "sub" / "b.bin") == 0o644
    assert _mode(tmp_path / "model") == 0o755


def test_umask_077_is_respected(tmp_path):
    old = os.umask(0o077)
    try:
        write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "t.txt") == 0o600


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_dir_replaces_old_folder_and_keeps_it_on_failure(tmp_path):
    target = tmp_path / "best"
    with atomic_dir(target) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_file_sha256_matches_known_digest(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_a_report_keeps_its_timings_and_run_ids_out_of_the_tracked_file(tmp_path):
    from pipelines.common.io import timings_path, write_report

    report = {"clips": 10, "wall_s": 3.2, "codecs": {"a": {"seconds": 1.5, "labels": [1]}},
              "history": [{"loss": 0.5, "epoch_s": 0.1}, {"loss": 0.4}],
              "mlflow_run_id": "f00", "max_seconds": 2.5}
    timings = timings_path(tmp_path / "reports", "stage")
    write_report(tmp_path / "r.json", report, timings)
    assert json.loads((tmp_path / "r.json").read_text()) == {
        "clips": 10, "codecs": {"a": {"labels": [1]}}, "history": [{"loss": 0.5}, {"loss": 0.4}],
        "max_seconds": 2.5}
    assert json.loads(timings.read_text()) == {
        "wall_s": 3.2, "codecs": {"a": {"seconds": 1.5}}, "history": [{"epoch_s": 0.1}, None],
        "mlflow_run_id": "f00"}
    write_report(tmp_path / "s.json", {"clips": 1}, tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()


def test_a_report_keeps_how_the_run_went_out_of_the_tracked_file(tmp_path):
    """A resumed run (work reused, fewer actors) and a run from nothing write the same bytes."""
    from pipelines.common.io import write_report

    fresh = {"clips": 12, "shards": 3, "computed_shards": 3, "skipped_shards": 0,
             "computed_clips": 12, "reused_clips": 0, "actors": 2}
    resumed = {**fresh, "computed_shards": 1, "skipped_shards": 2, "computed_clips": 4,
               "actors": 1}
    write_report(tmp_path / "a.json", fresh, tmp_path / "ta.json")
    write_report(tmp_path / "b.json", resumed, tmp_path / "tb.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert json.loads((tmp_path / "a.json").read_text()) == {"clips": 12, "shards": 3}
    assert json.loads((tmp_path / "tb.json").read_text())["skipped_shards"] == 2
    write_report(tmp_path / "s2.json", {"clips": 1}, tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()


def test_save_npz_writes_the_same_bytes_whenever_it_runs(tmp_path, monkeypatch):
    import time

    import numpy as np

    from pipelines.common.io import save_npz

    arrays = {"vectors": np.arange(6, dtype=np.float32).reshape(2, 3), "names": np.array(["a", "b"])}
    save_npz(tmp_path / "a.npz", **arrays)
    later = time.time() + 3600  # an hour later
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", lambda *_: time.gmtime(later))
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = np.load(tmp_path / "a.npz")
    assert set(loaded.files) == {"vectors", "names"}
    np.testing.assert_array_equal(loaded["vectors"], arrays["vectors"])
    np.testing.assert_array_equal(loaded["names"], arrays["names"])
