"""Live simulated devices: the seeded simulator played in real time against an HJ 212 receiver.

Every ``tick_s`` seconds (on the minute by default) the fleet sends what the simulator says each
online point measured since the previous tick — minute data (CN 2051) at each point's registry
interval, with the simulator's episodes, flagged windows and outages (an outage is silence: no
packets), late and duplicated packets — and the safety sensors' real-time data (CN 2011 every 10 s,
their quiet baselines: :func:`safety_between`; the alarm scenarios of :mod:`sensors.sim_safety` are
the demo's, not the live feed's). The simulator is a pure function of ``(seed, point, time)``,
so a live run shows the same values a back-fill of the same period would.

The first tick sends the current clock hour so far. Devices behave like data loggers when the receiver is unreachable: the unsent period is kept and sent
on the next tick that gets through (补传), up to ``max_backlog``.

Test hooks, read at every tick (both optional, one entry per line):

* ``silence_file``: point ids (or MNs) that send nothing, like a device with a cut cable;
* ``profiles``: a simulator profile (``--healthy`` drops outages, faults and episodes for a clean feed).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from sensors import simulator

log = logging.getLogger("envmon.live")


@dataclass
class Tick:
    start: datetime
    end: datetime
    readings: int
    packets: int
    acked: int
    errors: list[str]


def healthy_profiles() -> dict:
    """The simulator profile without outages, instrument faults and exceedance episodes (ambient ones
    included)."""
    prof = copy.deepcopy(simulator.load_profiles())
    events = prof["events"]
    events["outage"]["per_month"] = 0
    events["fault"]["per_month"] = 0
    events["exceedance"]["per_month"] = 0
    if "ambient_episode" in events:
        events["ambient_episode"]["per_month"] = 0
    return prof


def silenced(path: Path | None) -> set[str]:
    if path is None or not path.exists():
        return set()
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def readings_between(registry, start: datetime, end: datetime, *, seed: int, profiles: dict | None = None,
                     silent: set[str] = frozenset()) -> pd.DataFrame:
    frames = list(simulator.simulate_readings(registry, start, end, seed=seed, profiles=profiles))
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    if silent:
        mns = {p.id: p.mn for p in registry}
        keep = ~(frame["point"].isin(silent) | frame["point"].map(mns).isin(silent))
        frame = frame[keep]
    return frame


def safety_between(registry, start: datetime, end: datetime, *, seed: int,
                   silent: set[str] = frozenset()) -> list[tuple[str, bytes]]:
    """(MN, packet) of every safety sensor's real-time data in [start, end) (baselines, no scenario),
    except the ``silent`` ones (ids or MNs). Without them the deadman would see every safety sensor
    of a live feed as silent."""
    from sensors.sim_safety import safety_packets

    sensors = registry.points_of(kind="safety")
    if not sensors or end <= start:
        return []
    quiet = {p.mn for p in sensors if p.id in silent or p.mn in silent}
    tick_seed = (seed * 1_000_003 + int(pd.Timestamp(start).timestamp())) % 2**32
    return [(mn, raw) for mn, raw in safety_packets(registry, start, end, seed=tick_seed, scenarios=())
            if mn not in quiet]


def run_live(registry, host: str, port: int, *, seed: int, tick_s: float = 60.0,
             profiles: dict | None = None, silence_file: Path | None = None,
             max_backlog: timedelta = timedelta(hours=6), should_stop: Callable[[], bool] = lambda: False,
             on_tick: Callable[[Tick], None] | None = None, clock: Callable[[], float] = time.time) -> None:
    """Send live packets until ``should_stop()``; one :class:`Tick` per send to ``on_tick``."""
    step = pd.Timedelta(seconds=tick_s)
    # start with the current clock hour, so the hour a fleet comes up in is complete in the data
    sent_until = pd.Timestamp(clock(), unit="s", tz="UTC").floor("h").to_pydatetime()
    while not should_stop():
        now = pd.Timestamp(clock(), unit="s", tz="UTC")
        due = now.floor(step).to_pydatetime()
        if due <= sent_until:
            wait = (pd.Timestamp(sent_until) + step - now).total_seconds()
            time.sleep(min(1.0, max(0.05, wait)))
            continue
        start = max(sent_until, due - max_backlog)
        quiet = silenced(silence_file)
        frame = readings_between(registry, start, due, seed=seed, profiles=profiles, silent=quiet)
        packets = list(simulator.to_packets(frame, registry, seed=seed)) if len(frame) else []
        packets += safety_between(registry, start, due, seed=seed, silent=quiet)
        errors: list[str] = []
        acked = 0
        if packets:
            try:
                report = simulator.send_packets(host, port, packets, connections=4)
                errors, acked = report.errors, report.acked
            except OSError as exc:
                errors = [f"{type(exc).__name__}: {exc}"]
        tick = Tick(start, due, len(frame), len(packets), acked, errors)
        if errors:
            log.warning("receiver %s:%s: %s; %s kept for the next tick", host, port, errors[0],
                        f"{start:%H:%M}–{due:%H:%M}")
        else:
            sent_until = due
            log.info("%s–%s UTC: %d readings, %d packets, %d acknowledged", f"{start:%H:%M}", f"{due:%H:%M}",
                     len(frame), len(packets), acked)
        if on_tick:
            on_tick(tick)
