"""The report renderer's collector setting (monitoring.reports.render.fewer_collections)."""

from __future__ import annotations

import gc
import threading

from monitoring.reports.render import PDF_GC_THRESHOLD0, fewer_collections


def test_fewer_collections_restores_the_threshold_after_nested_and_overlapping_uses():
    """A report built in a console thread beside another must not leave the process collecting rarely."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with fewer_collections():
            assert gc.get_threshold() == (PDF_GC_THRESHOLD0, 10, 10)
            with fewer_collections():
                pass
            assert gc.get_threshold()[0] == PDF_GC_THRESHOLD0
        assert gc.get_threshold() == (700, 10, 10)
        # two threads whose uses overlap and end in the other order
        entered, release_first = threading.Event(), threading.Event()

        def first() -> None:
            with fewer_collections():
                entered.set()
                release_first.wait(10)

        t = threading.Thread(target=first)
        t.start()
        assert entered.wait(10)
        with fewer_collections():
            release_first.set()
            t.join(10)
            assert gc.get_threshold()[0] == PDF_GC_THRESHOLD0   # the other thread left; this one still runs
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
