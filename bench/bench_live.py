"""Live run under the real Airflow scheduler: alert counts, alert latency, clean stop (issue #8 §2).

``envmon up --simulate --healthy --free-ports`` on a private data directory, with a local webhook sink as
the only notification channel. Timeline (minutes from the moment every service answers; ``--minutes``
scales the whole plan; 30 → the plan below, the issue's durations, about an hour):

========  ===============================================================================================
phase     what happens
========  ===============================================================================================
0–3       healthy live feed (start-up grace: no data-missing notification may come from the start-up)
3–33      one device silenced for 30 min (``run/silent-points``): exactly one data-missing incident and,
          after it resumes, one recovery (in the "数据恢复汇总" digest: ``ENVMON_DEADMAN_DIGEST_MINUTES``
          is 4 here instead of 15 (the next 5-min deadman run sends it), so that the run need not wait)
4–14      alert-latency samples: for each of N stack points, the 60 minute packets of an exceeding hour
          (the hour before the stack started, particulate at 400 mg/m³) are sent; the clock starts at the
          9014 answer to the last packet (the one that completes the hour) and stops when the webhook
          sink receives the "超标" message of that point's incident
15–30     the receiver is stopped for 15 min (``supervisorctl stop receiver``): every device is silent →
          one county- or zone-level incident, not one per point (the device silenced before keeps its
          one incident); then it is started again → one recovery
33–62     recoveries; the run ends 3 min after both the device's and the county's recovery arrived (at
          the latest at 62); then SIGTERM to ``envmon up``: every process must be gone, exit status 0
========  ===============================================================================================

Prints the notification counts by kind, the latency p50/p95 (goal p95 ≤ 90 s), the process list before
and after the stop, and the machine load. ``tests/monitoring/test_live_run.py`` (``make test-live``) runs
it and asserts the goals.

Usage: ``python bench/bench_live.py [--minutes 30] [--samples 12] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from tests.live_stack import LiveStack, alive
from tests.monitoring.sinks import HttpSink

PARAMETER = "a34013"          # particulate, mg/m³; 400 exceeds every stack limit in the registry (≤ 120)
LEVEL = 400.0


class _TimedPosts(list):
    """The sink's list of posts, stamping each with its arrival time (time.time())."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item) -> None:  # type: ignore[override]
        self.times.append(time.time())
        super().append(item)


@dataclass
class LiveRunResult:
    minutes: float
    posts: list[dict] = field(default_factory=list)          # title, message, at
    latencies_s: list[float] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)         # point, zone, hour, t_ack, t_post
    hops: list[dict] = field(default_factory=list)            # latency_hops() of each sample
    missing_latency: list[str] = field(default_factory=list)
    silenced_point: str = ""
    processes_before: list[tuple[int, str]] = field(default_factory=list)
    processes_left: list[int] = field(default_factory=list)
    exit_code: int | None = None
    load: str = ""

    def count(self, word: str) -> int:
        return sum(word in p["title"] for p in self.posts)

    def about(self, point_name: str) -> list[dict]:
        return [p for p in self.posts if point_name in p["title"] + p["message"]]

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else float("nan")


def _hour_packets(point, hour_start: pd.Timestamp) -> list[tuple[str, bytes]]:
    from sensors.hj212 import build_packet

    out = []
    for minute in range(60):
        t = hour_start + pd.Timedelta(minutes=minute)
        qn = t.tz_convert("Asia/Shanghai").strftime("%Y%m%d%H%M%S") + "000"
        out.append((point.mn, build_packet(st="31", cn="2051", mn=point.mn, pw=point.pw,
                                           data_time=t.to_pydatetime(), qn=qn, ack=True,
                                           cp={PARAMETER: {"Avg": LEVEL, "Flag": "N"}})[0]))
    return out


def _incident_of(stack: LiveStack, point_id: str) -> int | None:
    from monitoring.incidents import IncidentManager

    incs = [i for i in IncidentManager(stack.settings().sql_url).list()
            if i.point == point_id and i.kind == "exceedance"]
    return incs[0].id if incs else None


def _say(*args) -> None:
    print(*args, flush=True)


def live_run(workdir: Path, *, minutes: float = 30, samples: int = 12, out=_say) -> LiveRunResult:
    from monitoring.config import load_settings
    from monitoring.registry import load_registry
    from sensors.simulator import send_packets

    scale = minutes / 30.0
    plan = {"silence": 3, "lat_from": 4, "lat_to": 14, "down": 15, "up": 30, "resume": 33, "end": 62,
            "margin": 3}
    at = {k: v * 60 * scale for k, v in plan.items()}
    registry = load_registry(load_settings().registry_path)
    sink = HttpSink()
    sink.posts = _TimedPosts()
    sink.start()
    env = {"ENVMON_NOTIFY_URLS": sink.url, "ENVMON_NOTIFY_MIN_INTERVAL_S": "0",
           "ENVMON_DEADMAN_DIGEST_MINUTES": str(max(1, round(4 * scale)))}
    stack = LiveStack(workdir / "data", simulate=True, healthy=True, env=env)
    result = LiveRunResult(minutes=minutes)
    t_start = time.time()
    stack.start()
    t0 = time.time()
    out(f"stack healthy after {t0 - t_start:.0f} s; data {stack.data_dir}")
    result.processes_before = stack.processes()
    receiver_port = stack.info["ports"]["receiver"]
    stacks = [p for p in registry.points_of(kind="stack", online=True) if PARAMETER in p.parameters]
    silenced = next(p for p in registry.points_of(online=True) if p.interval_s == 60 and p.kind != "stack")
    result.silenced_point = silenced.id
    lat_points = stacks[:samples]
    zone_of = {p.id: p.zone for p in lat_points}
    hour = pd.Timestamp(t_start, unit="s", tz="UTC").floor("h") - pd.Timedelta(hours=1)
    sent_at: dict[str, float] = {}
    next_sample = at["lat_from"]
    gap = (at["lat_to"] - at["lat_from"]) / max(1, samples)
    done: set[str] = set()
    recovered_at: float | None = None

    def step(name: str) -> bool:
        """True once, when the plan reaches ``name``."""
        if name in done or now < at[name]:
            return False
        done.add(name)
        return True

    try:
        while (now := time.time() - t0) < at["end"]:
            if step("silence"):
                stack.silence([silenced.id])
                out(f"{now / 60:5.1f} min: {silenced.id} silenced")
            if step("down"):
                out(f"{now / 60:5.1f} min: receiver stopped: {stack.supervisorctl('stop', 'receiver').strip()}")
            if step("up"):
                out(f"{now / 60:5.1f} min: receiver started: {stack.supervisorctl('start', 'receiver').strip()}")
            if step("resume"):
                stack.silence([])
                out(f"{now / 60:5.1f} min: {silenced.id} resumes")
            if lat_points and now >= next_sample and "silence" in done and "down" not in done:
                p = lat_points.pop(0)
                report = send_packets("127.0.0.1", receiver_port, _hour_packets(p, hour), connections=1)
                sent_at[p.id] = time.time()
                out(f"{now / 60:5.1f} min: exceeding hour of {p.id} sent, {report.acked}/60 acknowledged")
                next_sample += gap
            if "resume" in done and recovered_at is None:
                titles = [(post.json or {}).get("title", "") + (post.json or {}).get("message", "")
                          for post in sink.posts]
                device_back = any("恢复" in t and silenced.id in t for t in titles)
                group_back = any("恢复" in t and "全部在线监测点位" in t for t in titles)
                if device_back and group_back:
                    recovered_at = now
                    at["end"] = min(at["end"], now + at["margin"])
                    out(f"{now / 60:5.1f} min: both recoveries arrived; ending at {at['end'] / 60:.1f} min")
            for pid, t_ack in list(sent_at.items()):
                iid = _incident_of(stack, pid)
                if iid is None:
                    continue
                got = [t for post, t in zip(sink.posts, sink.posts.times, strict=False)
                       if (post.json or {}).get("title", "").endswith(f"#{iid}")]
                if got:
                    result.latencies_s.append(got[0] - t_ack)
                    result.samples.append({"point": pid, "zone": zone_of[pid], "hour": hour.isoformat(),
                                           "t_ack": t_ack, "t_post": got[0]})
                    out(f"  latency {pid}: {got[0] - t_ack:.0f} s")
                    del sent_at[pid]
            time.sleep(2)
        result.missing_latency = sorted(sent_at)
    finally:
        result.load = Path("/proc/loadavg").read_text().strip()
        pids = [pid for pid, _ in stack.processes()]
        result.exit_code = stack.stop()
        time.sleep(1)
        result.processes_left = alive(pids)
        result.hops = latency_hops(stack.layout.airflow_home / "airflow.db", result.samples)
        for post, t in zip(sink.posts, sink.posts.times, strict=False):
            body = post.json or {}
            result.posts.append({"title": body.get("title", ""), "message": body.get("message", ""), "at": t})
        sink.stop()
    return result


def _epoch(text: str | None) -> float | None:
    """An Airflow metadata timestamp (naive UTC text in SQLite) as epoch seconds."""
    return pd.Timestamp(text, tz="UTC").timestamp() if text else None


def latency_hops(airflow_db: Path, samples: list[dict]) -> list[dict]:
    """Where each sample's latency went, from the Airflow metadata DB (SQLite of the live stack):

    * ``wait``: 9014 answer → start of the ingest run that stored the completing packet (spool
      rotation, then the wait for the next ingest run);
    * ``ingest``: that run's start → its asset event (zone tasks + summarise);
    * ``queue``: asset event → start of the evaluate_and_alert run that consumed it (run creation, and
      waiting behind a busy evaluation: max_active_runs=1);
    * ``evaluate``: evaluation run start → the webhook sink got the message (task start, evaluation,
      incidents, notification).
    The evaluation run is the one running when the message arrived; the ingest run is the latest source
    of its consumed events that touched the sample's hour in the sample's zone."""
    import sqlite3

    if not samples or not Path(airflow_db).exists():
        return []
    db = sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True)
    runs = db.execute("SELECT id, run_id, dag_id, start_date, end_date FROM dag_run "
                      "WHERE dag_id IN ('evaluate_and_alert', 'ingest_readings')").fetchall()
    evals = sorted((_epoch(start), _epoch(end), rid) for rid, _, dag, start, end in runs
                   if dag == "evaluate_and_alert" and start)
    ingest_start = {run_id: _epoch(start) for _, run_id, dag, start, _ in runs if dag == "ingest_readings"}
    out = []
    for s in samples:
        hour_end = pd.Timestamp(s["hour"]) + pd.Timedelta(minutes=59)
        e = [(start, rid) for start, end, rid in evals if start <= s["t_post"] and (end is None or end >= s["t_post"] - 2)]
        if not e:
            out.append({"point": s["point"], "total": s["t_post"] - s["t_ack"]})
            continue
        e_start, e_id = max(e)
        events = db.execute("SELECT ae.source_run_id, ae.timestamp, ae.extra FROM dagrun_asset_event d "
                            "JOIN asset_event ae ON ae.id = d.event_id WHERE d.dag_run_id = ?", (e_id,)).fetchall()
        touching = []
        for run_id, ts, extra in events:
            zone = json.loads(extra or "{}").get("zones", {}).get(s["zone"])
            if zone and zone.get("first_time") and pd.Timestamp(zone["first_time"]) <= hour_end:
                touching.append((_epoch(ts), run_id))
        hop = {"point": s["point"], "total": s["t_post"] - s["t_ack"]}
        if touching:
            ev_t, run_id = max(touching)
            i_start = ingest_start.get(run_id)
            if i_start is not None:
                hop |= {"wait": i_start - s["t_ack"], "ingest": ev_t - i_start}
            hop |= {"queue": e_start - ev_t}
        hop["evaluate"] = s["t_post"] - e_start
        out.append(hop)
    db.close()
    return out


def hops_table(hops: list[dict]) -> list[str]:
    """p50 / p95 / max of each hop, in seconds."""
    lines = []
    for key in ("wait", "ingest", "queue", "evaluate", "total"):
        v = [h[key] for h in hops if key in h]
        if v:
            lines.append(f"  {key:<9} n={len(v):<3} p50={np.percentile(v, 50):6.1f} s  "
                         f"p95={np.percentile(v, 95):6.1f} s  max={max(v):6.1f} s")
    return lines


def summary(r: LiveRunResult) -> str:
    lines = [f"live run: {r.minutes:.0f} min under the real scheduler; load average at the end {r.load}",
             f"notifications: {len(r.posts)} in all — "
             + ", ".join(f"{w} {r.count(w)}" for w in ("超标", "数据缺失", "恢复", "升级", "进展")),
             f"silenced device {r.silenced_point}: {len(r.about(r.silenced_point))} notifications",
             f"alert latency (9014 of the completing packet → webhook): n={len(r.latencies_s)} "
             f"p50={r.p(50):.0f} s p95={r.p(95):.0f} s max={max(r.latencies_s, default=float('nan')):.0f} s"
             + (f"; no alert for {', '.join(r.missing_latency)}" if r.missing_latency else ""),
             "where the time went (hops of each sample):", *hops_table(r.hops),
             f"processes before stop ({len(r.processes_before)}):"]
    lines += [f"  {pid:>7} {cmd}" for pid, cmd in r.processes_before]
    lines.append(f"after stop: exit status {r.exit_code}, processes left: {r.processes_left or 'none'}")
    lines.append("titles:")
    lines += [f"  {time.strftime('%H:%M:%S', time.gmtime(p['at']))}Z {p['title']}" for p in r.posts]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="envmon-live-"))
    r = live_run(workdir, minutes=a.minutes, samples=a.samples)
    print(summary(r))
    (workdir / "live-run.json").write_text(json.dumps(r.__dict__, default=str, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    os.sync()


if __name__ == "__main__":
    main()
