"""The issue-14 part of ``envmon demo``: a safety alarm with its latency, AQI, groundwater trend, soil.

* :class:`WebhookSink` — a local HTTP endpoint (stdlib ``http.server``) standing in for the bureau's
  channel; it notes when each alarm POST arrived. The demo points ``ENVMON_SAFETY_NOTIFY_URLS`` at it
  before the receiver process starts, so the receiver's fast path delivers there.
* :func:`send_safety_stream` — the safety sensors' last ``minutes`` of real-time data (with the scenarios
  of :mod:`sensors.sim_safety`) over one TCP connection, waiting for each 9014 and noting when it came.
* :func:`print_issue14` — alarms with their latency (POST arrival − 9014 arrival of the packet that
  crossed the threshold), what the batch path sent again (nothing expected), station AQI, groundwater
  trend warnings, soil follow-up tasks and control-value incidents.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class WebhookSink:
    """Local JSON webhook on 127.0.0.1 (apprise ``json://``); keeps (arrival monotonic time, payload)."""

    posts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    sink.posts.append((at, json.loads(body.decode("utf-8"))))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    sink.posts.append((at, {"raw": body.decode("utf-8", "replace")}))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"json://127.0.0.1:{self._server.server_address[1]}/safety"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class SafetyStream:
    sent: int = 0
    #: (point, data time UTC) → monotonic time the 9014 arrived
    acks: dict[tuple[str, pd.Timestamp], float] = field(default_factory=dict)


def send_safety_stream(port: int, registry: Any, end: datetime, *, minutes: int = 30, seed: int = 14) -> SafetyStream:
    from sensors.hj212 import FrameBuffer, parse_packet
    from sensors.sim_safety import safety_packets

    by_mn = {p.mn: p.id for p in registry.points_of(kind="safety")}
    out = SafetyStream()
    buf = FrameBuffer()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for mn, raw in safety_packets(registry, end - timedelta(minutes=minutes), end, seed=seed):
            s.sendall(raw)
            while True:
                events = buf.feed(s.recv(4096))
                if events:
                    break
            at = time.monotonic()
            pkt = parse_packet(raw)
            out.acks[(by_mn[mn], pd.Timestamp(pkt.data_time).tz_convert("UTC"))] = at
            out.sent += 1
    return out


def alarm_latencies(book: Any, sink: WebhookSink, stream: SafetyStream) -> pd.DataFrame:
    """One row per alarm message that reached the sink: the crossing packet's 9014 → POST arrival."""
    rows = []
    alarms = {a.id: a for a in book.alarms()}
    for at, post in sink.posts:
        body, title = post.get("message", ""), post.get("title", "")
        if "详情：" not in body or "解除" in title:
            continue
        alarm_id = int(body.rsplit("/safety/", 1)[1].split()[0])
        a = alarms.get(alarm_id)
        if a is None:
            continue
        crossing = a.level2_at if "二级" in title and a.level2_at is not None else a.started_at
        ack = stream.acks.get((a.point, pd.Timestamp(crossing).tz_convert("UTC")))
        rows.append({"alarm": alarm_id, "point": a.point, "message": title, "latency_s": (at - ack) if ack else np.nan})
    return pd.DataFrame(rows, columns=["alarm", "point", "message", "latency_s"])


def print_issue14(console: Any, registry: Any, settings: Any, start: datetime, end: datetime,
                  sink: WebhookSink | None, stream: SafetyStream | None, posts_before_batch: int) -> None:
    from rich.table import Table

    from limits.catalogue import load_catalogue
    from monitoring.compliance.ambient import aqi_period
    from monitoring.followup import list_tasks
    from monitoring.incidents import IncidentManager, fmt_local
    from monitoring.ingest import store_from_settings
    from monitoring.safety.alarms import AlarmBook
    from monitoring.safety.thresholds import Thresholds

    store = store_from_settings(settings)
    # --- safety alarms -----------------------------------------------------------------------------
    book = AlarmBook(settings.sql_url, registry, Thresholds.load(registry, load_catalogue(),
                                                                  settings.safety_plans_path))
    alarms = book.alarms()
    t = Table(title=f"Safety alarms ({len(alarms)}) — fast path in the receiver, batch path reconciles")
    for col in ("#", "point", "parameter", "level", "since (UTC+8)", "peak", "setting (status)", "cleared",
                "found by"):
        t.add_column(col)
    for a in alarms:
        setting = (f"{a.threshold_low:g}–{a.threshold:g}" if a.threshold_low is not None else f"{a.threshold:g}")
        t.add_row(str(a.id), a.point, a.parameter, a.level_zh, fmt_local(a.started_at), f"{a.peak_value:.4g} {a.unit}",
                  f"{setting} {a.unit} ({a.threshold_status})", fmt_local(a.cleared_at) if a.cleared_at else "active",
                  a.detected_by)
    console.print(t)
    if sink is not None and stream is not None:
        lat = alarm_latencies(book, sink, stream)
        if len(lat):
            v = lat["latency_s"].dropna().to_numpy()
            console.print(f"[bold]Safety alarm latency[/] 9014 → webhook POST over {len(v)} alarm messages: "
                          f"p50 {np.percentile(v, 50) * 1000:.0f} ms, p95 {np.percentile(v, 95) * 1000:.0f} ms, "
                          f"max {v.max() * 1000:.0f} ms (target ≤ 10 s p95); {stream.sent} safety packets sent")
        console.print(f"[bold]Batch path[/] messages sent again after evaluate_and_alert: "
                      f"{len(sink.posts) - posts_before_batch} (the fast path had sent {posts_before_batch})")
    # --- AQI -------------------------------------------------------------------------------------------
    hourly, daily = aqi_period(store, registry, start, end)
    if len(hourly):
        last = hourly.dropna(subset=["aqi"]).sort_values("window_start").groupby("point").tail(1)
        t = Table(title="AQI (HJ 633-2012, tables unconfirmed) — latest hour and last complete day per station")
        for col in ("station", "hour (UTC+8)", "AQI", "category", "colour", "primary", "day AQI", "day category"):
            t.add_column(col)
        for r in last.itertuples():
            d = daily[daily["point"] == r.point].tail(1) if len(daily) else pd.DataFrame()
            t.add_row(r.point, fmt_local(r.window_start), f"{r.aqi:.0f}", r.category, r.colour,
                      r.primary_zh if isinstance(r.primary_zh, str) else "—",
                      f"{d['aqi'].iloc[0]:.0f}" if len(d) else "—", d["category"].iloc[0] if len(d) else "—")
        console.print(t)
    # --- groundwater trend, soil ------------------------------------------------------------------------
    incidents = IncidentManager(settings.sql_url).list()
    trend = [i for i in incidents if i.check == "trend_warning"]
    for i in trend:
        console.print(f"[bold]Groundwater trend warning[/] {i.point} {i.parameter}: projected {i.peak_value:.3g} "
                      f"{i.unit or ''} vs Class III {i.limit:g} (GB/T 14848-2017, {i.limit_status}) — incident #{i.id}")
    for task in list_tasks(settings.sql_url):
        console.print(f"[bold]Soil follow-up task[/] #{task.id} {task.point} {task.parameter} {task.value:g} "
                      f"{task.unit} > screening {task.limit:g} ({task.standard} {task.clause}, {task.limit_status}): "
                      f"{task.action}")
    for i in incidents:
        if i.check == "control":
            console.print(f"[bold]Soil control-value incident[/] #{i.id} {i.point} {i.parameter} {i.peak_value:g} "
                          f"{i.unit or ''} > control {i.limit:g} ({i.standard}, {i.limit_status}), {i.severity_zh}")
    amb = [i for i in incidents if i.kind in ("ambient",) or (i.point.endswith(("AQ01",)) and i.check.startswith("ambient"))]
    console.print(f"[bold]Ambient (GB 3095-2012) incidents[/]: {len(amb)}")
    from monitoring.compliance.sources import sources_for_incident

    for i in amb:
        console.print(f"  #{i.id} {i.point} {i.parameter} {i.check}: {i.peak_value:.4g} vs {i.limit:g} "
                      f"{i.unit or ''} since {fmt_local(i.started_at)} ({i.limit_status})")
        suspects = sources_for_incident(store, registry, i)
        if suspects.empty:
            console.print("    likely sources: none of the cluster's stacks or fugitive points rose in those hours")
        for r in suspects.head(3).itertuples():
            console.print(f"    likely source {r.rank}: {r.point} ({r.kind}) — {r.evidence}")
