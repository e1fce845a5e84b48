"""Shared by the segmenter tests."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: the HRNet's ~600 small convolutions spend more time in thread
    hand-offs than in arithmetic at test sizes, badly so on a busy 2-core runner."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
