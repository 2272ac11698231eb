import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """Tiny models gain nothing from 2 threads, and on a shared, loaded 2-core machine
    OpenMP threads spin against each other (measured: 0.3 s vs 7.9 s per tiny step)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
