"""InfluxStore / SpoolingWriter against a real influxd (the session fixture or ENVMON_INFLUX_URL)."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from monitoring.commands.influx import app as influx_app
from monitoring.config import load_settings
from monitoring.influx import (
    ASSESSMENT_FIELDS,
    ASSESSMENT_TAGS,
    InfluxNotConfigured,
    InfluxQueryError,
    InfluxStore,
    InfluxUnavailable,
    InfluxWriteError,
    LineBatch,
    SpoolingWriter,
    read_spool_file,
    readings_to_line_protocol,
    to_line_protocol,
)
from monitoring.influx.server import ManagedInfluxd
from monitoring.services import free_port
from sensors import schema

pytestmark = pytest.mark.influx

Factory = Callable[..., pd.DataFrame]
T0 = pd.Timestamp("2026-03-01T00:00:00+08:00")  # = 2026-02-28T16:00:00Z


def _mixed_batch(readings_factory: Factory) -> pd.DataFrame:
    """Stack particulates of an enterprise, an ambient-air station (no enterprise), a lab non-detect."""
    stack = readings_factory(3)
    ambient = readings_factory(3, enterprise=pd.NA, point="JK-AQ01", kind="ambient_air",
                               parameter="a34004", unit="mg/m3", value=[0.035, 0.041, np.nan],
                               flag=["N", "N", "D"], batch="江口-批次 2026/03 \"一\"")
    lab = readings_factory(1, enterprise="JK-E02 电镀", point="JK-E02-DW001", kind="wastewater",
                           parameter="w20116", statistic="sample", period="sample", value=[0.01],
                           unit="mg/L", qualifier="<", source="lab", batch="实验室\\报告")
    return schema.conform(pd.concat([stack, ambient, lab], ignore_index=True))


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["time", "point", "parameter"]).reset_index(drop=True)


def _stored(df: pd.DataFrame) -> pd.DataFrame:
    """What reading ``df`` back gives: lean lines do not carry the batch (it is in the ingest record)."""
    return schema.conform(_sorted(df).assign(batch=pd.NA))


# --------------------------------------------------------------------------------------------------
# round trip, timestamps, idempotency
# --------------------------------------------------------------------------------------------------
def test_round_trip_canonical_batch(influx_store: InfluxStore, readings_factory: Factory) -> None:
    batch = _mixed_batch(readings_factory)
    assert influx_store.write_readings(batch) == 7
    back = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"))
    pd.testing.assert_frame_equal(back, _stored(batch))
    # The NA enterprise is really absent from the series key (not an empty or "<NA>" tag).
    keys = influx_store.query('SHOW SERIES FROM "readings"', epoch="s")["key"].tolist()
    ambient = [k for k in keys if "JK-AQ01" in k]
    assert ambient and all("enterprise" not in k for k in ambient)
    assert any(r"enterprise=JK-E02\ 电镀" in k for k in keys)


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_timestamps_land_in_2026_not_1970(influx_store: InfluxStore, readings_factory: Factory,
                                          unit: str) -> None:
    batch = readings_factory(2)
    batch["time"] = batch["time"].astype(f"datetime64[{unit}, UTC]")
    assert str(batch["time"].dtype) == f"datetime64[{unit}, UTC]"
    influx_store.write_readings(batch)
    raw = influx_store.query('SELECT "value" FROM "readings"', epoch="ns")
    expected = [1772294400 * 10**9, 1772298000 * 10**9]  # 2026-02-28T16:00Z, 17:00Z
    assert raw["time"].astype("int64").tolist() == expected
    assert raw["time"].dt.year.tolist() == [2026, 2026]
    # write_frame keeps a microsecond column as given too (no conform() in between).
    frame = pd.DataFrame({"t": pd.to_datetime(["2026-05-04T03:02:01.123456Z"]), "site": ["a"], "v": [1.0]})
    assert str(frame["t"].dtype) == "datetime64[us, UTC]"
    lp = to_line_protocol(frame, "m", ["site"], ["v"], "t")
    assert lp.precision == "ns" and lp.lines == ["m,site=a v=1.0 1777863721123456000"]
    influx_store.write_frame(frame, "m", ["site"], ["v"], "t")
    got = influx_store.query('SELECT * FROM "m"', epoch="ns")
    assert got["time"].tolist() == [pd.Timestamp("2026-05-04T03:02:01.123456Z")]


def test_readings_are_whole_seconds_and_written_with_precision_s(readings_factory: Factory) -> None:
    lp = readings_to_line_protocol(readings_factory(1))
    assert lp.precision == "s"
    assert lp.lines[0].endswith(" 1772294400")


def test_write_twice_is_idempotent_and_a_corrected_flag_overwrites(
        influx_store: InfluxStore, readings_factory: Factory) -> None:
    batch = _mixed_batch(readings_factory)
    influx_store.write_readings(batch)
    influx_store.write_readings(batch)
    assert influx_store.count("readings") == 7
    corrected = batch.copy()
    corrected.loc[0, "flag"] = "M"
    corrected["batch"] = "re-sent"
    influx_store.write_readings(corrected)
    assert influx_store.count("readings") == 7
    series = influx_store.query('SHOW SERIES FROM "readings"')
    assert len(series) == 3  # one series per (point, parameter, statistic, period …)
    back = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"))
    first = back[(back["point"] == "JK-002-DA001") & (back["time"] == T0)]
    assert first["flag"].tolist() == ["M"] and back["batch"].isna().all()
    # A lab non-detect ("<" at the detection limit) corrected to a detected value loses its "<"
    # (InfluxDB merges fields of a re-written point, so "no qualifier" must be written explicitly).
    lab = corrected[corrected["source"] == "lab"].assign(qualifier=pd.NA, value=0.034)
    influx_store.write_readings(lab)
    back = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"), point="JK-E02-DW001")
    assert back["qualifier"].isna().all() and back["value"].tolist() == [0.034]
    assert influx_store.count("readings") == 7


def test_lean_lines_carry_only_what_the_tags_do_not_imply(readings_factory: Factory) -> None:
    """Issue #13: value and flag on every line; unit only off the parameter table, source only when the
    period does not imply it, qualifier on lab lines, batch never."""
    hj = readings_factory(1, source="hj212", period="1min")
    odd = readings_factory(1, parameter="x99999", unit="furlong", source="hj212", period="1min")
    lab = readings_factory(1, point="JK-E02-DW001", kind="wastewater", parameter="w01018", unit="mg/L",
                           statistic="sample", period="sample", source="lab")
    sim = readings_factory(1)
    lines = readings_to_line_protocol(pd.concat([hj, odd, lab, sim], ignore_index=True)).lines
    fields = [line.split(" ")[1] for line in lines]
    assert fields == ['flag="N",value=10.0', 'flag="N",unit="furlong",value=10.0',
                      'flag="N",qualifier="",value=10.0', 'flag="N",source="sim",value=10.0']


def test_points_written_before_the_lean_shape_read_the_same(influx_store: InfluxStore,
                                                           readings_factory: Factory) -> None:
    """The compatible reader: old lines (unit, source, batch, qualifier fields) come back as stored; a
    re-sent reading in the lean shape overwrites the old point (same series) and keeps its old fields."""
    old = [('readings,enterprise=JK-002,kind=stack,parameter=a34013,period=1h,point=JK-002-DA001,'
           'statistic=avg,zone=jiangkou batch="old-batch",flag="N",qualifier="",source="hj212",'
           'unit="mg/m3",value=10.0 1772294400')]
    influx_store.write_lines(old, "s")
    back = influx_store.read_readings(T0, T0 + pd.Timedelta("1h"))
    expected = readings_factory(1, source="hj212", batch="old-batch")
    pd.testing.assert_frame_equal(back, expected)
    influx_store.write_readings(readings_factory(1, source="hj212", value=[11.0], flag="M"))
    back = influx_store.read_readings(T0, T0 + pd.Timedelta("1h"))
    assert influx_store.count("readings") == 1
    pd.testing.assert_frame_equal(back, expected.assign(value=11.0, flag="M").pipe(schema.conform))


# --------------------------------------------------------------------------------------------------
# transport: batching, gzip, retries — observed on the wire by a forwarding proxy in front of influxd
# --------------------------------------------------------------------------------------------------
class _Proxy(http.server.ThreadingHTTPServer):
    """Forwards to a real influxd; records each request; answers 503 to the first ``fail_first``."""

    def __init__(self, target: str, fail_first: int = 0) -> None:
        self.target, self.fail_first = target, fail_first
        self.seen: list[dict[str, object]] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _Proxy

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({"method": self.command, "path": self.path, "body": body,
                                 "headers": dict(self.headers)})
        if len(self.server.seen) <= self.server.fail_first:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        resp = requests.request(self.command, self.server.target + self.path, data=body, headers=headers,
                                timeout=30)
        self.send_response(resp.status_code)
        for k in ("Content-Type", "X-Influxdb-Error"):
            if k in resp.headers:
                self.send_header(k, resp.headers[k])
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    do_GET = do_POST = _forward


@pytest.fixture
def proxy_factory(influx_url: str) -> Iterator[Callable[..., _Proxy]]:
    started: list[_Proxy] = []

    def start(fail_first: int = 0) -> _Proxy:
        proxy = _Proxy(influx_url, fail_first)
        threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.shutdown()
        proxy.server_close()


def test_batches_are_gzip_compressed_and_split(influx_store: InfluxStore, readings_factory: Factory,
                                               proxy_factory: Callable[..., _Proxy]) -> None:
    proxy = proxy_factory()
    store = InfluxStore(f"http://127.0.0.1:{proxy.server_port}", influx_store.database, batch_lines=500)
    batch = readings_factory(1234, freq="1min", period="1min")
    assert store.write_readings(batch) == 1234
    writes = [r for r in proxy.seen if r["path"].startswith("/write")]
    assert len(writes) == 3  # 500 + 500 + 234
    sizes = []
    for r in writes:
        assert r["headers"]["Content-Encoding"] == "gzip"
        body = r["body"]
        assert isinstance(body, bytes) and body[:2] == b"\x1f\x8b"
        plain = gzip.decompress(body)
        sizes.append(plain.count(b"\n"))
        assert len(body) < len(plain) / 4
    assert sizes == [500, 500, 234]
    assert influx_store.count("readings") == 1234
    # And influxd really needs the header: the same gzip bytes without it are unparsable.
    bare = requests.post(f"{influx_store.url}/write", params={"db": influx_store.database, "precision": "s"},
                         data=writes[0]["body"], timeout=10)
    assert bare.status_code == 400


def test_5xx_is_retried_by_urllib3_with_retry_after(influx_store: InfluxStore, readings_factory: Factory,
                                                    proxy_factory: Callable[..., _Proxy]) -> None:
    proxy = proxy_factory(fail_first=2)
    store = InfluxStore(f"http://127.0.0.1:{proxy.server_port}", influx_store.database, retries=3,
                        backoff_factor=0.01)
    assert store.write_readings(readings_factory(5)) == 5
    assert [r["method"] for r in proxy.seen] == ["POST"] * 3  # two 503s, then forwarded
    assert influx_store.count("readings") == 5

    hopeless = proxy_factory(fail_first=100)
    store = InfluxStore(f"http://127.0.0.1:{hopeless.server_port}", influx_store.database, retries=2,
                        backoff_factor=0.01)
    with pytest.raises(InfluxUnavailable, match="503"):
        store.write_readings(readings_factory(5))
    assert len(hopeless.seen) == 3  # first try + 2 retries


def test_unreachable_server_raises_unavailable() -> None:
    store = InfluxStore(f"http://127.0.0.1:{free_port()}", "x", retries=1, backoff_factor=0.01)
    assert not store.ping()
    with pytest.raises(InfluxUnavailable, match="unreachable"):
        store.write_lines(["m v=1 1"])


# --------------------------------------------------------------------------------------------------
# errors from the server
# --------------------------------------------------------------------------------------------------
def test_field_type_conflict_raises_with_message_and_offending_line(
        influx_store: InfluxStore, readings_factory: Factory) -> None:
    influx_store.write_readings(readings_factory(2))
    # Field types are fixed per shard (7-day shard groups from Monday 00:00 UTC): stay in T0's week.
    bad = pd.DataFrame({"time": pd.to_datetime(["2026-02-28T20:00:00Z", "2026-02-28T21:00:00Z"]),
                        "point": ["P9", "P9"], "value": ["12.5", "oops"]})
    with pytest.raises(InfluxWriteError) as info:
        influx_store.write_frame(bad, "readings", ["point"], ["value"], "time")
    err = info.value
    assert err.status == 400 and err.bad_data
    assert "field type conflict" in err.message
    assert err.first_line == 'readings,point=P9 value="12.5" 1772308800'


def test_query_errors_carry_the_server_message(influx_store: InfluxStore) -> None:
    with pytest.raises(InfluxQueryError, match="error parsing query"):
        influx_store.query("SELEC * FROM readings")
    with pytest.raises(InfluxQueryError, match="one statement"):
        influx_store.query('SELECT * FROM "a"; SELECT * FROM "b"')
    assert [f.empty for f in influx_store.query_many('SELECT * FROM "a"; SHOW DATABASES')] == [True, False]


# --------------------------------------------------------------------------------------------------
# reading back
# --------------------------------------------------------------------------------------------------
def test_read_readings_window_is_half_open_and_filters(influx_store: InfluxStore,
                                                       readings_factory: Factory) -> None:
    batch = _mixed_batch(readings_factory)
    influx_store.write_readings(batch)
    start = T0 + pd.Timedelta("1h")
    got = influx_store.read_readings(start, start + pd.Timedelta("1h"))
    assert set(got["time"]) == {start} and len(got) == 2  # the 02:00 readings are excluded
    valid = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"), valid_only=True)
    assert len(valid) == 6 and (valid["flag"] == "N").all()
    air = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"), kind="ambient_air")
    assert air["point"].unique().tolist() == ["JK-AQ01"] and air["enterprise"].isna().all()
    assert np.isnan(air["value"].iloc[2]) and air["flag"].iloc[2] == "D"
    two = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"), point=["JK-AQ01", "JK-E02-DW001"],
                                     statistic=["avg", "sample"])
    assert sorted(two["point"].unique()) == ["JK-AQ01", "JK-E02-DW001"] and len(two) == 4
    # User-supplied values are bind parameters, never spliced into InfluxQL.
    assert influx_store.read_readings(T0, T0 + pd.Timedelta("1d"), zone="x' OR zone =~ /.*/ OR '").empty
    with pytest.raises(ValueError, match="timezone"):
        influx_store.read_readings("2026-03-01", "2026-03-02")


def test_query_with_tag_filter_and_bind_parameters(influx_store: InfluxStore,
                                                   readings_factory: Factory) -> None:
    influx_store.write_readings(_mixed_batch(readings_factory))
    frame = influx_store.query('SELECT "value" FROM "readings" WHERE "kind" = $kind AND time >= $t '
                               'GROUP BY "point"', params={"kind": "stack", "t": "2026-02-28T17:00:00Z"})
    assert frame["point"].tolist() == ["JK-002-DA001", "JK-002-DA001"]
    assert frame["value"].tolist() == [10.5, 11.0]
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert influx_store.count("readings", T0, T0 + pd.Timedelta("1h")) == 3


def test_write_frame_assessments_layout(influx_store: InfluxStore) -> None:
    a = schema.empty_assessments().reindex(range(2))
    a["window_start"] = pd.to_datetime(["2026-03-01T00:00Z", "2026-03-01T01:00Z"]).as_unit("ns")
    a["window_end"] = a["window_start"] + pd.Timedelta("1h")
    a = a.assign(zone="nanxi", enterprise=pd.NA, point="NX-AQ01", kind="ambient_air", parameter="a34004",
                 check="concentration", averaging="1h", value=[0.05, 0.2], limit=0.15, unit="mg/m3",
                 ratio=[0.05 / 0.15, 0.2 / 0.15], verdict=["compliant", "exceeds"], reason="",
                 standard="GB 3095-2012", clause="表1 二级", limit_status="text", limit_source="GB 3095",
                 valid_count=pd.array([45, pd.NA], dtype="Int64"), expected_count=60)
    a = a.astype(schema.ASSESSMENT_COLUMNS)
    assert influx_store.write_frame(a, "assessments", ASSESSMENT_TAGS, ASSESSMENT_FIELDS,
                                    "window_start") == 2
    back = influx_store.query('SELECT * FROM "assessments" WHERE "verdict" = \'exceeds\'')
    assert back["ratio"].iloc[0] == pytest.approx(0.2 / 0.15)
    assert back["window_end"].iloc[0] == "2026-03-01T02:00:00.000000Z"
    assert back["clause"].iloc[0] == "表1 二级" and pd.isna(back["valid_count"].iloc[0])
    assert "limit_low" not in back.columns or back["limit_low"].isna().all()  # NaN → field omitted


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df.assign(time=df["time"].dt.tz_localize(None)), "timezone-aware"),
    (lambda df: df.assign(value=np.inf), "infinite"),
    (lambda df: df.assign(point="P\n1"), "line break"),
])
def test_unwritable_input_is_refused_with_reason(readings_factory: Factory,
                                                 mutate: Callable[[pd.DataFrame], pd.DataFrame],
                                                 message: str) -> None:
    df = mutate(readings_factory(2))
    with pytest.raises(ValueError, match=message):
        to_line_protocol(df, "readings", schema.TAG_COLUMNS, schema.FIELD_COLUMNS, "time")


def test_bad_row_refuses_the_whole_batch_before_any_write(influx_store: InfluxStore,
                                                          readings_factory: Factory) -> None:
    batch = readings_factory(12_000, freq="1min", period="1min")  # three requests' worth
    batch.loc[11_999, "value"] = np.inf
    store = InfluxStore(influx_store.url, influx_store.database, batch_lines=5000)
    with pytest.raises(ValueError, match="infinite at row 11999"):
        store.write_readings(batch)
    assert store.count("readings") == 0


def test_row_without_any_field_is_refused_not_dropped() -> None:
    df = pd.DataFrame({"t": pd.to_datetime(["2026-01-01T00:00Z"] * 2), "v": [1.0, np.nan]})
    with pytest.raises(ValueError, match="no field value"):
        to_line_protocol(df, "m", [], ["v"], "t")


# --------------------------------------------------------------------------------------------------
# the write spool
# --------------------------------------------------------------------------------------------------
def test_outage_spools_then_replay_writes_and_removes(tmp_path: Path, readings_factory: Factory) -> None:
    server = ManagedInfluxd(tmp_path / "influx")
    url = server.__enter__()
    try:
        store = InfluxStore(url, "envmon", retries=1, backoff_factor=0.01)
        store.ensure_database()
        writer = SpoolingWriter(store, tmp_path / "spool")
        first = writer.write_readings(readings_factory(10))
        assert first.lines_written == 10 and not first.spooled
        server.stop()  # outage

        batch = readings_factory(7, start="2026-03-02T00:00:00+08:00")
        report = writer.write_readings(batch)
        assert report.spooled and report.lines_spooled == 7 and report.lines_written == 0
        [spooled] = writer.pending()
        assert spooled.name.endswith(".lp.gz") and spooled.parent == tmp_path / "spool"
        assert read_spool_file(spooled).lines == readings_to_line_protocol(batch).lines
        assert writer.replay() == (0, 0, 1)  # still down: kept
        later = writer.write_readings(readings_factory(3, start="2026-03-03T00:00:00+08:00"))
        assert later.spooled and len(writer.pending()) == 2

        server.start()  # back, same URL and data
        assert writer.replay() == (2, 10, 0)
        assert writer.pending() == []
        assert store.count("readings") == 20
        back = store.read_readings("2026-03-02T00:00+08:00", "2026-03-03T00:00+08:00")
        pd.testing.assert_frame_equal(back, _stored(batch))
    finally:
        server.stop()


def test_pipelined_write_spools_from_the_failed_request_on(tmp_path: Path, readings_factory: Factory) -> None:
    """Rows go ``batch_lines`` per request, the next request's lines serialised while one is in flight;
    when the server dies after the first request, the failed request and every later row are spooled
    (in order, nothing sent after the failure) and a replay completes the batch."""
    server = ManagedInfluxd(tmp_path / "influx")
    url = server.__enter__()

    class StopsBeforeSecondRequest(InfluxStore):
        calls = 0

        def write_lines(self, lines, precision="ns"):
            StopsBeforeSecondRequest.calls += 1
            if StopsBeforeSecondRequest.calls == 2:
                server.stop()                                 # a real outage between two requests
            return super().write_lines(lines, precision)

    try:
        store = StopsBeforeSecondRequest(url, "envmon", retries=1, backoff_factor=0.01, batch_lines=4)
        store.ensure_database()
        writer = SpoolingWriter(store, tmp_path / "spool")
        batch = readings_factory(10)
        report = writer.write_readings(batch)
        assert (report.lines_written, report.lines_spooled, report.lines_rejected) == (4, 6, 0)
        assert report.seconds["serialise"] > 0 and report.seconds["http"] > 0
        [spooled] = writer.pending()
        assert read_spool_file(spooled).lines == readings_to_line_protocol(batch).lines[4:]
        server.start()
        assert writer.replay() == (1, 6, 0)
        assert store.count("readings") == 10
        pd.testing.assert_frame_equal(store.read_readings(T0, T0 + pd.Timedelta("1d")), _stored(batch))
    finally:
        server.stop()


def test_pending_spool_is_replayed_before_new_lines(influx_store: InfluxStore, tmp_path: Path,
                                                    readings_factory: Factory) -> None:
    dead = InfluxStore(f"http://127.0.0.1:{free_port()}", influx_store.database, retries=0)
    old = readings_factory(2, flag="D", value=99.0)
    assert SpoolingWriter(dead, tmp_path).write_readings(old).spooled
    writer = SpoolingWriter(influx_store, tmp_path)
    new = readings_factory(2, flag="N")  # the same readings, corrected later
    report = writer.write_readings(new)
    assert report.lines_written == 2 and writer.pending() == []
    back = influx_store.read_readings(T0, T0 + pd.Timedelta("1d"))
    assert back["flag"].tolist() == ["N", "N"]  # the older spooled values did not win
    assert back["value"].tolist() == new["value"].tolist()


def test_rejected_batches_go_to_rejected_folder_with_reason(influx_store: InfluxStore, tmp_path: Path,
                                                           readings_factory: Factory) -> None:
    influx_store.write_readings(readings_factory(3))  # value is a float field now
    good = 'readings,point=P1 value=1.5 1772308800'
    bad = 'readings,point=P2 value="high" 1772308800'
    # 1) live write through the spooling writer: the bad batch is set aside, the rest is written.
    store = InfluxStore(influx_store.url, influx_store.database, batch_lines=1)
    writer = SpoolingWriter(store, tmp_path / "spool")
    report = writer.write_batch(LineBatch([good, bad], "s"))
    assert (report.lines_written, report.lines_rejected, report.lines_spooled) == (1, 1, 0)
    [rejected] = report.rejected_files
    assert read_spool_file(rejected).lines == [bad]
    reason = rejected.with_name(rejected.name.removesuffix(".lp.gz") + ".reason.txt").read_text()
    assert "http_status: 400" in reason and "field type conflict" in reason and bad in reason
    # 2) a spooled file with a bad line: replay moves it to rejected/ instead of retrying forever.
    dead = InfluxStore(f"http://127.0.0.1:{free_port()}", influx_store.database, retries=0)
    SpoolingWriter(dead, tmp_path / "spool").write_batch(
        LineBatch(['readings,point=P3 value=2.5 1772308800', 'readings,point=P4 value=true 1772308800'], "s"))
    assert writer.replay() == (0, 0, 0)
    reasons = sorted((tmp_path / "spool" / "rejected").glob("*.reason.txt"))
    assert len(reasons) == 2 and "P4" in reasons[-1].read_text()
    assert influx_store.count("readings", "2026-02-28T20:00Z", "2026-02-28T21:00Z") == 2  # P1 and P3


def test_spool_keeps_multiline_string_fields_exact(influx_store: InfluxStore, tmp_path: Path) -> None:
    note = 'line one\n第二行 "quoted" \\ end\n'
    frame = pd.DataFrame({"t": pd.to_datetime(["2026-03-01T00:00Z", "2026-03-01T01:00Z"]),
                          "store": ["HW-1", "HW-2"], "note": [note, "plain"], "q_t": [1.25, 2.0]})
    dead = InfluxStore(f"http://127.0.0.1:{free_port()}", influx_store.database, retries=0)
    assert SpoolingWriter(dead, tmp_path).write_frame(frame, "hw_ledger", ["store"], ["note", "q_t"],
                                                      "t").spooled
    assert SpoolingWriter(influx_store, tmp_path).replay() == (1, 2, 0)
    back = influx_store.query('SELECT * FROM "hw_ledger"')
    assert back["note"].tolist() == [note, "plain"]


# --------------------------------------------------------------------------------------------------
# settings and CLI
# --------------------------------------------------------------------------------------------------
def test_from_settings(tmp_path: Path) -> None:
    with pytest.raises(InfluxNotConfigured, match="ENVMON_INFLUX_URL"):
        InfluxStore.from_settings(load_settings(data_dir=tmp_path, influx_url=None))
    store = InfluxStore.from_settings(load_settings(data_dir=tmp_path, influx_url="http://h:8086/",
                                                    influx_db="d", influx_token="tok"))
    assert (store.url, store.database) == ("http://h:8086", "d")
    assert store.session.headers["Authorization"] == "Token tok"
    basic = InfluxStore.from_settings(load_settings(data_dir=tmp_path, influx_url="http://h:8086",
                                                    influx_user="u", influx_password="p"))
    assert basic.session.auth == ("u", "p")


def test_cli(influx_store: InfluxStore, readings_factory: Factory, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("ENVMON_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ENVMON_INFLUX_URL", raising=False)
    result = runner.invoke(influx_app, ["ping"])
    assert result.exit_code == 2 and "no InfluxDB server configured" in result.output

    monkeypatch.setenv("ENVMON_INFLUX_URL", influx_store.url)
    monkeypatch.setenv("ENVMON_INFLUX_DB", influx_store.database)
    result = runner.invoke(influx_app, ["ping"])
    assert result.exit_code == 0 and "is up" in result.output
    influx_store.write_readings(readings_factory(2))
    result = runner.invoke(influx_app, ["query", 'SELECT "value" FROM "readings" WHERE "point" = $p',
                                        "--param", "p=JK-002-DA001", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"time": "2026-02-28T16:00:00.000000Z", "value": 10.0},
                                         {"time": "2026-02-28T17:00:00.000000Z", "value": 10.5}]
    table = runner.invoke(influx_app, ["query", 'SELECT "value" FROM "readings"'])
    assert "2026-03-01 00:00:00+0800" in table.output  # people read Asia/Shanghai
    bad = runner.invoke(influx_app, ["query", "SELEC 1"])
    assert bad.exit_code == 1 and "error parsing query" in bad.output

    dead = InfluxStore(f"http://127.0.0.1:{free_port()}", influx_store.database, retries=0)
    spool = load_settings().write_spool_dir
    SpoolingWriter(dead, spool).write_readings(readings_factory(4, start="2026-04-01T00:00:00+08:00"))
    result = runner.invoke(influx_app, ["replay"])
    assert result.exit_code == 0 and "replayed 1 file(s), 4 line(s); 0 file(s) still spooled" in result.output
    assert influx_store.count("readings") == 6


def test_missing_database_is_spooled_not_rejected(influx_url: str, tmp_path: Path,
                                                  readings_factory: Factory) -> None:
    store = InfluxStore(influx_url, f"not_yet_{free_port()}", retries=0)
    writer = SpoolingWriter(store, tmp_path)
    report = writer.write_readings(readings_factory(5))
    assert report.spooled and report.lines_rejected == 0 and "not found" in report.errors[0]
    assert writer.replay() == (0, 0, 1)  # 404 is not bad data: kept for later
    try:
        assert store.ensure_database()
        assert writer.replay() == (1, 5, 0)
        assert store.count("readings") == 5
    finally:
        store.drop_database()
