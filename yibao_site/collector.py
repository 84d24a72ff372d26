"""Pause Python's cyclic garbage collector for a large batch or file (issue 14)."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def collector_paused(pause: bool = True):
    """Pause the cyclic garbage collector while a large batch is settled or a large file is
    read, checked and written, and start it again after (also when the block raises).

    A settlement batch builds some hundred objects a claim and keeps thousands of claims alive
    until they are written; a file of 100 000 rows keeps its row dicts, cleaned values and
    look-ups alive until it is written.  None of them is in a reference cycle: the collector's
    passes over that growing heap found nothing and cost ≈ 10 % of the batch's Python time and
    25–40 % of an enrolments import's wall time (bench/RESULTS.md).  Reference counting still
    frees everything as usual.  Nested uses are no-ops; a block that finds the collector
    already off leaves it off."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
