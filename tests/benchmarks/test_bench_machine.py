"""The machine fingerprint a result file carries."""

from benchmarks.machine import describe, is_quiet, machine_fingerprint, with_load


def test_fingerprint_has_cpu_cores_packages_and_load():
    fp = with_load([0.5, 0.4, 0.3], [1.5, 0.6, 0.3], machine_fingerprint())
    assert fp["cpu"] and fp["cpu_cores"] >= 1
    assert {"torch", "numpy", "ray", "webdataset"} <= set(fp["packages"])
    assert fp["load_average_before"] == [0.5, 0.4, 0.3]
    assert fp["load_average_after"] == [1.5, 0.6, 0.3]
    assert isinstance(fp["nice"], int)
    line = describe(fp)
    assert "load 0.5 -> 1.5" in line and f"{fp['cpu_cores']} cores" in line


def test_quiet_needs_low_load_and_no_nice():
    assert is_quiet([0.9, 0, 0], cores=2, nice=0)
    assert not is_quiet([1.1, 0, 0], cores=2, nice=0)
    assert not is_quiet([0.0, 0, 0], cores=2, nice=19)
