"""Shared test settings."""

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Test problems are small: one thread spares the synchronisation of intra-op parallelism
    on each of thousands of small operations, which dominates on a shared machine (an
    encode of 100 points took 1.8 s on one thread and 31 s on two beside another job)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
