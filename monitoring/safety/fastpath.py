"""The safety fast path: alarm thresholds evaluated as HJ 212 packets become durable, in the receiver process.

The monitoring layer builds a :class:`FastPath` and hands its :meth:`FastPath.on_durable` to
:class:`sensors.receiver.Receiver` (``on_durable=``) — the receiver calls it after each fsync round,
before the 9014 answers leave. ``on_durable`` only filters the safety points' packets and enqueues them;
one worker thread applies them to the :class:`~monitoring.safety.alarms.AlarmBook` (SQL, idempotent)
and delivers the messages that created. The event loop never waits for SQL or a channel.

Ordering: one worker, FIFO, so the readings of a sensor are applied in arrival order. If the worker
falls behind or the process dies, nothing is lost: the packets are in the spool, and the batch path
(:func:`monitoring.safety.alarms.reconcile` in every evaluate run) derives the same alarms and sends
whatever was not sent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from monitoring.safety.alarms import AlarmBook, DeliveryReport
from sensors.hj212.codes import VALUE_FIELDS

log = logging.getLogger(__name__)

#: Value fields that carry the instantaneous / interval value a threshold is compared with.
ALARM_FIELDS = ("Rtd", "Avg", "Max")


def packet_rows(items: Iterable[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """(point, parameter, time, value, flag) of the safety points' values in ``(packet, point)`` pairs."""
    rows: list[dict[str, Any]] = []
    for pkt, point in items:
        if getattr(point, "kind", None) != "safety" or pkt.data_time is None:
            continue
        for code, fields in pkt.cp.items():
            flag = fields.get("Flag", "N")
            for fld in ALARM_FIELDS:
                raw = fields.get(fld)
                if raw is None or fld not in VALUE_FIELDS:
                    continue
                try:
                    value = float(raw)
                except ValueError:
                    continue           # the batch path quarantines it with the reason
                rows.append({"point": point.id, "parameter": code, "time": pkt.data_time, "value": value,
                             "flag": flag})
                break                  # one value per code: Rtd, else Avg, else Max
    return rows


@dataclass
class FastPathStats:
    packets: int = 0            # safety packets enqueued
    batches: int = 0            # worker rounds
    messages: int = 0           # messages created by the fast path
    report: DeliveryReport = field(default_factory=DeliveryReport)
    errors: int = 0
    last_error: str | None = None


class FastPath:
    """Receiver hook + worker thread. ``start()`` before the receiver, ``stop()`` after it closed."""

    def __init__(self, book: AlarmBook, *, max_queue: int = 100_000) -> None:
        self.book = book
        self.stats = FastPathStats()
        self._q: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        #: (message ids, monotonic time their delivery finished) — for benchmarks and tests
        self.delivered: list[tuple[list[int], float]] = []

    # called on the receiver's event loop: must not block
    def on_durable(self, items: list[tuple[Any, Any]]) -> None:
        rows = packet_rows(items)
        if not rows:
            return
        self.stats.packets += len({(r["point"], r["time"]) for r in rows})
        try:
            self._q.put_nowait(rows)
        except queue.Full:  # the batch path will catch up from the spool
            self.stats.errors += 1
            self.stats.last_error = "fast-path queue full: left to the batch path"
            log.error(self.stats.last_error)

    def start(self) -> FastPath:
        self._thread = threading.Thread(target=self._run, name="safety-fastpath", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._q.put(None)
        self._thread.join(timeout)
        self._thread = None

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything enqueued so far has been applied and delivered (tests, demo)."""
        deadline = time.monotonic() + timeout
        while self._q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                self._q.task_done()
                return
            batch = [item]
            while True:                       # take what queued up meanwhile: one SQL transaction
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    self._q.task_done()
                    break
                batch.append(nxt)
            try:
                frame = pd.DataFrame([r for rows in batch for r in rows])
                ids = self.book.apply(frame, detected_by="fast", now=datetime.now(UTC))
                self.stats.messages += len(ids)
                if ids:
                    rep = self.book.deliver(ids)
                    self.stats.report.sent += rep.sent
                    self.stats.report.failed += rep.failed
                    self.stats.report.skipped += rep.skipped
                    self.delivered.append((ids, time.monotonic()))
                self.stats.batches += 1
            except Exception as exc:  # keep serving; the batch path reconciles
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("safety fast path failed on a batch (the batch path will reconcile)")
            finally:
                for _ in batch:
                    self._q.task_done()


def fast_path_from_settings(registry: Any, settings: Any = None) -> FastPath | None:
    """A started fast path with the configured channels, or ``None`` when the registry has no safety
    sensors. Without any channel configured the alarms are still recorded (and shown on the console)."""
    from monitoring.config import load_settings
    from monitoring.safety.alarms import channels_from_env
    from monitoring.safety.thresholds import Thresholds

    if not registry.points_of(kind="safety"):
        return None
    settings = settings or load_settings()
    channels, escalation = channels_from_env()
    book = AlarmBook(settings.sql_url, registry, Thresholds.load(registry, plans_path=settings.safety_plans_path),
                     channels=channels, escalation_channels=escalation)
    return FastPath(book).start()
