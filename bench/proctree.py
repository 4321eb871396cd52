"""Memory and CPU of a whole process tree, read from Linux ``/proc`` (for the benches' printed figures).

* :class:`TreeMemory` samples, every ``interval`` s in a thread, the resident memory of this process and
  all its descendants (forked zone workers, the receiver, ``influxd``): the sum of ``VmRSS`` (pages shared
  after a fork counted once per process: an upper bound) and the sum of ``Pss`` from
  ``/proc/<pid>/smaps_rollup`` (shared pages split between their sharers: what the tree really holds).
  Its peaks are the figures to bound; ``exclude`` leaves a process out of the "pipeline" sums (e.g. the
  managed ``influxd``, reported on its own and in the whole tree's sum).
* :func:`cpu_seconds` — user + system CPU seconds a process has used so far.

Sampling misses peaks shorter than ``interval``; ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the
largest single process) is printed next to it as a floor.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()   # fields from the 3rd (state) on


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used by ``pid`` (not its children); 0 when it is gone."""
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / _TICKS if f else 0.0


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _stat(int(entry.name))
        if f:
            children.setdefault(int(f[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _memory_kib(pid: int) -> tuple[int, int, int]:
    """``(VmRSS, RssAnon, Pss)`` of ``pid`` in KiB (zeros when it is gone)."""
    rss = anon = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        pass
    return rss, anon, pss


@dataclass
class TreeMemory:
    """Peak memory of this process's tree while running (``with TreeMemory() as mem: …``), MiB."""

    interval: float = 0.25
    exclude: set[int] = field(default_factory=set)
    peak_rss: float = 0.0            # sum of VmRSS over the tree without ``exclude``
    peak_pss: float = 0.0            # sum of Pss over the tree without ``exclude``
    peak_excluded_rss: float = 0.0   # the excluded processes (e.g. influxd), sum of VmRSS
    peak_excluded_anon: float = 0.0  # their anonymous memory (RssAnon: not mmap'd files, e.g. TSM files)
    peak_total_rss: float = 0.0      # the whole tree, excluded processes included (same samples)
    peak_total_anon: float = 0.0     # the same with the excluded processes' RssAnon instead of VmRSS
    peak_processes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        rss = pss = ex = ex_anon = 0
        pids = descendants(os.getpid())
        for pid in pids:
            r, a, p = _memory_kib(pid)
            if pid in self.exclude:
                ex, ex_anon = ex + r, ex_anon + a
            else:
                rss, pss = rss + r, pss + p
        self.peak_rss = max(self.peak_rss, rss / 1024)
        self.peak_pss = max(self.peak_pss, pss / 1024)
        self.peak_excluded_rss = max(self.peak_excluded_rss, ex / 1024)
        self.peak_excluded_anon = max(self.peak_excluded_anon, ex_anon / 1024)
        self.peak_total_rss = max(self.peak_total_rss, (rss + ex) / 1024)
        self.peak_total_anon = max(self.peak_total_anon, (rss + ex_anon) / 1024)
        self.peak_processes = max(self.peak_processes, len(pids) - len(self.exclude & set(pids)))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Self:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
