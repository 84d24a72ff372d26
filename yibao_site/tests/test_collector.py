"""The collector pause the large imports and the settlement batch share (issue 14)."""
import gc

import pytest

from yibao_site import imports
from yibao_site.collector import collector_paused


def test_the_imports_use_the_shared_pause():
    assert imports.collector_paused is collector_paused


@pytest.mark.parametrize("pause", [True, False])
def test_collector_paused_starts_it_again(pause):
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with collector_paused(pause):
            assert gc.isenabled() is not pause
            raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that paused it itself keeps it paused
        with collector_paused(pause):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
