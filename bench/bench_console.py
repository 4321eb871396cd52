"""Benchmark: console page latency, 20 concurrent users, on a month of the county's data.

Setup (not timed): a private data dir; a month (``--days``, default 30) of hourly assessment windows for
every online point × parameter of the packaged registry, applied through
:class:`monitoring.incidents.IncidentManager` day by day (so the incident store holds what a month of
evaluation leaves: the windows, the series, the incidents and their audit trail; ~1 % of windows exceed,
in episodes); some incidents handled part-way through the workflow; public complaints; one operator
account. Then ``envmon serve --port 0`` as a subprocess (one uvicorn worker, as ``envmon up`` runs it).

Load: ``--users`` threads (default 20), each its own logged-in session (httpx), each walking the console
pages in turn for ``--rounds`` rounds: overview, inbox, an incident page, its chart, a point page,
inspections, complaints, reports, and the public home. Prints per page p50 / p95 / max (ms), the overall
p95 against the 300 ms target, requests per second, and the machine's load average (the build machines
are shared: figures move with it).

    .venv/bin/python bench/bench_console.py [--days 30] [--users 20] [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sensors.schema import ASSESSMENT_COLUMNS, empty_assessments

PASSWORD = "bench password 2026"
LIMIT = {"a21026": 550.0, "a21002": 240.0, "a34013": 120.0, "a24088": 120.0, "a25002": 12.0, "a25003": 40.0,
         "a25005": 70.0, "Leq": 60.0, "LMx": 70.0, "w01018": 500.0, "w21003": 45.0, "w21011": 8.0,
         "w21001": 70.0, "w01010": 40.0}


def month_of_windows(registry, start: datetime, days: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """One assessments frame per day: every online point × parameter hourly, ~1 % exceeding in runs."""
    series = [(p, par) for p in registry if p.online and p.kind != "hw_store" for par in p.parameters
              if par in LIMIT]
    frames = []
    for d in range(days):
        t0 = start + timedelta(days=d)
        starts = pd.date_range(t0, periods=24, freq="h", tz="UTC")
        rows = []
        for p, par in series:
            limit = LIMIT[par]
            values = limit * rng.uniform(0.2, 0.8, 24)
            if rng.random() < 0.01:                         # an episode of 2–6 hours
                k = int(rng.integers(0, 20))
                values[k:k + int(rng.integers(2, 7))] = limit * rng.uniform(1.1, 3.5)
            verdict = np.where(values > limit, "exceeds", "compliant").astype(object)
            verdict[rng.random(24) < 0.02] = "no_data"
            rows.append(pd.DataFrame({
                "window_start": starts, "window_end": starts + pd.Timedelta(hours=1), "zone": p.zone,
                "enterprise": p.enterprise, "point": p.id, "kind": p.kind, "parameter": par,
                "check": "concentration", "averaging": "1h", "value": values, "limit": limit,
                "limit_low": np.nan, "unit": "dB(A)" if par in ("Leq", "LMx") else "mg/m3",
                "ratio": values / limit, "verdict": verdict, "reason": "", "standard": "DB 50/418-2016",
                "clause": "表1", "limit_status": "provisional", "limit_source": "standards.md",
                "valid_count": 60, "expected_count": 60}))
        frames.append(pd.concat([empty_assessments(), *rows], ignore_index=True).astype(ASSESSMENT_COLUMNS))
    return frames


def setup(data_dir: Path, days: int, seed: int) -> dict:
    os.environ["ENVMON_DATA_DIR"] = str(data_dir)
    os.environ.pop("ENVMON_DB_URL", None)
    from monitoring.casework import Casework
    from monitoring.complaints import submit_public
    from monitoring.config import load_settings
    from monitoring.console.users import add_user
    from monitoring.incidents import IncidentManager
    from monitoring.registry import load_registry

    settings = load_settings().ensure_dirs()
    registry = load_registry(settings.registry_path)
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    manager = IncidentManager(settings.sql_url)
    t = time.perf_counter()
    windows = 0
    for i, frame in enumerate(month_of_windows(registry, start, days, rng)):
        manager.apply_assessments(frame, now=start + timedelta(days=i + 1))
        windows += len(frame)
    incidents = manager.list()
    cw = Casework(settings.sql_url, settings.evidence_dir)
    for inc in incidents[: len(incidents) // 2]:
        cw.claim(inc.id, by="bench")
        if inc.id % 2:
            cw.verify(inc.id, by="bench", finding="confirmed", note="核实属实")
    for k in range(60):
        submit_public(settings.sql_url, what=f"投诉内容 {k}", where="江口", when="昨天", client=f"10.0.{k}.1")
    add_user(settings.sql_url, "bench", role="operator", password=PASSWORD)
    return {"windows": windows, "incidents": len(incidents), "setup_s": time.perf_counter() - t,
            "incident_ids": [i.id for i in incidents],
            "points": sorted({i.point for i in incidents}) or [next(iter(registry.points))]}


def serve(data_dir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "ENVMON_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "monitoring.cli", "serve", "--port", "0", "--log-level",
                             "warning", "--workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=REPO)
    line = proc.stdout.readline()
    if "http://" not in line:
        raise SystemExit(f"envmon serve did not start: {line}{proc.stdout.read()}")
    return proc, line[line.index("http://"):].strip().rstrip("/")


def login(base: str):
    import httpx
    c = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    html = c.get("/login").text
    token = html.split('name="csrftoken" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"csrftoken": token, "username": "bench", "password": PASSWORD, "next": "/console/"})
    assert r.status_code == 303, r.text
    return c


def run_load(base: str, info: dict, users: int, rounds: int) -> tuple[dict[str, list[float]], float]:
    clients = [login(base) for _ in range(users)]
    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    errors: list[str] = []

    def worker(c, seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(rounds):
            inc = rnd.choice(info["incident_ids"]) if info["incident_ids"] else 1
            pages = [("overview", "/console/"), ("inbox", "/console/incidents"),
                     ("incident", f"/console/incidents/{inc}"), ("incident chart", f"/console/incidents/{inc}/chart.svg"),
                     ("point (7 days)", f"/console/points/{rnd.choice(info['points'])}"),
                     ("inspections", "/console/inspections"), ("complaints", "/console/complaints"),
                     ("reports", "/console/reports"), ("public home", "/public/")]
            for name, path in pages:
                t = time.perf_counter()
                r = c.get(path)
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    timings[name].append(dt)
                    if r.status_code != 200:
                        errors.append(f"{path} → {r.status_code}")

    threads = [threading.Thread(target=worker, args=(c, i)) for i, c in enumerate(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    if errors:
        print(f"errors: {len(errors)} e.g. {errors[:3]}")
    return timings, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="envmon serve --workers (default: one per CPU)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="envmon-bench-console-") as tmp:
        data_dir = Path(tmp) / "data"
        info = setup(data_dir, args.days, args.seed)
        print(f"data: {args.days} days, {info['windows']:,} assessment windows, {info['incidents']} incidents "
              f"(setup {info['setup_s']:.0f} s, not timed)")
        proc, base = serve(data_dir, args.workers)
        try:
            for _ in range(2 * args.workers):
                login(base).get("/console/")      # warm-up: imports, registry, templates in each worker
            single, _ = run_load(base, info, 1, 3)
            timings, wall = run_load(base, info, args.users, args.rounds)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    one = np.array([t for name, ts in single.items() if "chart" not in name for t in ts])
    print(f"one user alone (CPU cost per page, no queueing): HTML pages p50 {np.percentile(one, 50):.0f} ms, "
          f"p95 {np.percentile(one, 95):.0f} ms; charts p50 "
          f"{np.percentile(single['incident chart'], 50):.0f} ms")
    print(f"{args.users} concurrent users × {args.rounds} rounds, {args.workers} uvicorn worker(s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)")
    print(f"{'page':<16} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    everything = []
    for name, ts in timings.items():
        a = np.array(ts)
        everything.extend(ts)
        print(f"{name:<16} {len(a):>5} {np.percentile(a, 50):>8.0f} {np.percentile(a, 95):>8.0f} {a.max():>8.0f}")
    pages = np.array([t for name, ts in timings.items() if "chart" not in name for t in ts])
    p95 = np.percentile(pages, 95)
    print(f"{'HTML pages':<16} {len(pages):>5} {np.percentile(pages, 50):>8.0f} {p95:>8.0f} {pages.max():>8.0f}")
    print(f"throughput {len(everything) / wall:.1f} requests/s (charts included); HTML pages p95 {p95:.0f} ms "
          f"vs target 300 ms: {'met' if p95 < 300 else 'NOT met'} (ratio {p95 / 300:.2f})")


if __name__ == "__main__":
    main()
