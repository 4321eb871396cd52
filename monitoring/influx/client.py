"""The InfluxDB v1 HTTP API client: ``POST /write`` (gzip, batched, retried by urllib3), ``/query``
(InfluxQL, chunked) and the readings query. Transport rules in :mod:`monitoring.influx`.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from monitoring.influx.errors import (
    InfluxNotConfigured,
    InfluxQueryError,
    InfluxUnavailable,
    InfluxWriteError,
)
from monitoring.influx.layout import LEGACY_READINGS_FIELDS, READINGS_FIELDS, READINGS_MEASUREMENT
from monitoring.influx.lineprotocol import (
    LineBatch,
    PreparedFrame,
    prepare_frame,
    prepare_readings,
    quote_ident,
    readings_from_fields,
)
from sensors import schema

if TYPE_CHECKING:
    from monitoring.config import Settings

log = logging.getLogger(__name__)

#: InfluxDB's representable time range (ns since the epoch); used as default query bounds because
#: InfluxQL otherwise bounds aggregate queries by now().
MIN_TIME_NS = -9223372036854775806
MAX_TIME_NS = 9223372036854775806

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


# ---------------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------------
_CONFLICT = re.compile(r'input field \\?"(?P<field>[^"\\]+)\\?" on measurement \\?"(?P<m>[^"\\]+)\\?"')
_UNPARSABLE = re.compile(r"unable to parse '(?P<line>.*?)': ", re.DOTALL)


def _first_offending_line(message: str, lines: Sequence[str]) -> str | None:
    m = _UNPARSABLE.search(message)
    if m:
        return m.group("line")
    m = _CONFLICT.search(message)
    if m:
        meas, fld = m.group("m"), m.group("field")
        for line in lines:
            head, _, rest = line.partition(" ")
            if head.split(",", 1)[0] == meas and (rest.startswith(f"{fld}=") or f",{fld}=" in rest):
                return line
    return lines[0] if lines else None


def _server_error(resp: requests.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
        if isinstance(body, dict) and body.get("message"):  # 2.x style
            return str(body["message"])
    except ValueError:
        pass
    return resp.headers.get("X-Influxdb-Error") or resp.text.strip() or resp.reason or "no message"


def _as_utc(value: object, what: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if ts.tzinfo is None:
        raise ValueError(f"{what}={value!r} is ambiguous: give a timezone (UTC or Asia/Shanghai)")
    return ts.tz_convert("UTC")


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``http://user:pw@host:8086/x`` → (``http://host:8086/x``, user, pw). URLs are shown to people
    (``influx ping``, warnings, errors): credentials travel as basic auth instead (issue 9, item 5)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return (urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
            unquote(parts.username or ""), unquote(parts.password or ""))


@contextlib.contextmanager
def write_pipeline() -> Iterator[ThreadPoolExecutor]:
    """The one-thread pool of a pipelined write (one request in flight while the next is serialised).

    On the way out of an exception — a SIGTERM turned into ``SystemExit`` while the caller holds claims —
    it does not wait for the request in flight: that request may hang up to ``timeout`` × retries, and the
    caller must give its claims back at once. A request finishing afterwards writes points the next run
    writes again: InfluxDB keeps one point per series and timestamp, so nothing is doubled.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write")
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class InfluxStore:
    """Client for one database over the v1 HTTP API.

    ``url``: base URL (``http://host:8086``); ``token`` → ``Authorization: Token …`` (2.x/3 v1-compat);
    ``user``/``password`` → HTTP basic auth (1.x, accepted by 2.x with a token as password);
    ``timeout``: seconds per HTTP request; ``batch_lines``: lines per write request; ``retries``: urllib3
    retries (connect, read and 429/5xx) with ``backoff_factor`` × 2ⁿ s between attempts.
    """

    def __init__(self, url: str, database: str, *, token: str | None = None, user: str | None = None,
                 password: str | None = None, timeout: float = 30, batch_lines: int = 5000,
                 retries: int = 5, backoff_factor: float = 0.5, gzip_level: int = 1,
                 retention_policy: str | None = None) -> None:
        if not url:
            raise InfluxNotConfigured("no InfluxDB URL given")
        if batch_lines < 1:
            raise ValueError("batch_lines must be >= 1")
        url, url_user, url_password = split_url_credentials(url)
        if url_user and not user and not token:      # http://user:password@host:8086 → basic auth
            user, password = url_user, password if password is not None else url_password
        self.url = url.rstrip("/")                    # never holds a credential: it is printed and logged
        self.database = database
        self.timeout = timeout
        self.batch_lines = batch_lines
        self.gzip_level = gzip_level
        self.retention_policy = retention_policy
        self.retry = Retry(
            total=retries, connect=retries, read=retries, status=retries, other=0,
            backoff_factor=backoff_factor, backoff_max=30,
            status_forcelist=_RETRY_STATUSES, allowed_methods=frozenset({"GET", "POST"}),
            respect_retry_after_header=True, raise_on_status=False,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=self.retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if token:
            self.session.headers["Authorization"] = f"Token {token}"
        elif user:
            self.session.auth = (user, password or "")

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> InfluxStore:
        """Store for ``settings.influx_url`` / ``influx_db`` with the configured credentials."""
        if not settings.influx_url:
            raise InfluxNotConfigured(
                "no InfluxDB server configured: set ENVMON_INFLUX_URL (e.g. http://127.0.0.1:8086); "
                "the managed throwaway influxd only runs during the demo and the tests")
        return cls(settings.influx_url, settings.influx_db, token=settings.influx_token,
                   user=settings.influx_user, password=settings.influx_password, **kwargs)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InfluxStore({self.url!r}, {self.database!r})"

    # --- plumbing ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} unreachable after retries: {exc}") from exc
        except requests.exceptions.RetryError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} kept failing: {exc}") from exc

    def ping(self) -> bool:
        """``GET /ping`` answers 204 (one attempt, no retries)."""
        try:
            resp = requests.get(f"{self.url}/ping", timeout=min(self.timeout, 5))
        except requests.RequestException:
            return False
        return resp.status_code == 204

    def server_version(self) -> str | None:
        """The ``X-Influxdb-Version`` header of ``/ping`` (``None`` when unreachable)."""
        try:
            return requests.get(f"{self.url}/ping", timeout=min(self.timeout, 5)).headers.get(
                "X-Influxdb-Version")
        except requests.RequestException:
            return None

    # --- database ---------------------------------------------------------------------------------
    def ensure_database(self) -> bool:
        """``CREATE DATABASE`` (idempotent). True when the database exists afterwards.

        On servers where InfluxQL may not create databases (2.x/3 v1 compatibility: the bucket and its
        DBRP mapping must be made with their own tools) the refusal is logged and False returned.
        Bad credentials (401) raise :class:`InfluxQueryError`.
        """
        resp = self._request("POST", "/query", data={"q": f"CREATE DATABASE {quote_ident(self.database)}"})
        if resp.status_code == 401:
            raise InfluxQueryError(f"CREATE DATABASE refused by {self.url}: {_server_error(resp)}")
        error = None if resp.ok else _server_error(resp)
        if error is None:
            try:
                results = resp.json().get("results", [])
                error = next((r["error"] for r in results if r.get("error")), None)
            except ValueError:
                error = resp.text.strip()
        if error:
            log.info("CREATE DATABASE %s not done on %s (%s); the database/bucket must already exist",
                     self.database, self.url, error)
            return False
        return True

    def drop_database(self) -> None:
        """``DROP DATABASE`` (tests and the demo only)."""
        self.query_many(f"DROP DATABASE {quote_ident(self.database)}")

    # --- writing ----------------------------------------------------------------------------------
    def _post_lines(self, lines: Sequence[str], precision: str) -> requests.Response:
        body = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=self.gzip_level)
        params = {"db": self.database, "precision": precision}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        return self._request("POST", "/write", params=params, data=body,
                             headers={"Content-Encoding": "gzip",
                                      "Content-Type": "text/plain; charset=utf-8"})

    def _write_request(self, batch: Sequence[str], precision: str, before: int) -> int:
        """One ``POST /write`` of ``batch``; ``before`` = lines of the same call already written."""
        resp = self._post_lines(batch, precision)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise InfluxUnavailable(f"InfluxDB at {self.url} answered HTTP {resp.status_code} after "
                                    f"retries: {_server_error(resp)}")
        if resp.status_code >= 300:
            message = _server_error(resp)
            raise InfluxWriteError(resp.status_code, message, _first_offending_line(message, batch),
                                   lines_before=before)
        return len(batch)

    def write_lines(self, lines: Sequence[str], precision: str = "ns") -> int:
        """Write pre-serialised line protocol in batches of ``batch_lines``; returns lines written.

        Raises :class:`InfluxWriteError` on a 4xx (``lines_before`` tells how many lines of this call
        were accepted before) and :class:`InfluxUnavailable` when retries are exhausted.
        """
        written = 0
        for start in range(0, len(lines), self.batch_lines):
            written += self._write_request(lines[start:start + self.batch_lines], precision, written)
        return written

    def write_batch(self, batch: LineBatch) -> int:
        return self.write_lines(batch.lines, batch.precision)

    def write_prepared(self, prepared: PreparedFrame) -> int:
        """Serialise and write ``batch_lines`` rows at a time, pipelined: while one request is in
        flight (its thread waits on the socket without the GIL) the next batch is serialised."""
        written = 0
        with write_pipeline() as pool:
            in_flight: Future[int] | None = None
            for start in range(0, len(prepared), self.batch_lines):
                lines = prepared.serialise(start, start + self.batch_lines)
                if in_flight is not None:
                    written += in_flight.result()
                in_flight = pool.submit(self._write_request, lines, prepared.precision, written)
            if in_flight is not None:
                written += in_flight.result()
        return written

    def write_readings(self, df: pd.DataFrame) -> int:
        """Write a canonical readings batch to ``readings``; returns the number of lines (= rows).

        The whole batch is validated before the first line is sent.
        """
        return self.write_prepared(prepare_readings(df))

    def write_frame(self, df: pd.DataFrame, measurement: str, tags: list[str], fields: list[str],
                    time_column: str) -> int:
        """Write any frame: ``tags`` become the series key, ``fields`` the values; returns lines written."""
        return self.write_prepared(prepare_frame(df, measurement, tags, fields, time_column))

    # --- querying ---------------------------------------------------------------------------------
    def _query_raw(self, influxql: str, params: Mapping[str, object] | None, epoch: str | None,
                   chunk_size: int = 10000) -> list[dict[str, Any]]:
        """Run ``influxql`` (``;``-separated statements); returns one result dict per statement.

        Chunked responses are merged: each statement's ``series`` list is the concatenation of its
        chunks (a series may appear in several pieces, marked ``partial``).
        """
        first = influxql.lstrip().split(None, 1)[0].upper() if influxql.strip() else ""
        read_only = first in ("SELECT", "SHOW") and " INTO " not in influxql.upper()
        payload: dict[str, str] = {"db": self.database, "q": influxql, "chunked": "true",
                                   "chunk_size": str(chunk_size)}
        if epoch:
            payload["epoch"] = epoch
        if params:
            payload["params"] = json.dumps(params, default=str)
        if read_only:
            resp = self._request("GET", "/query", params=payload)
        else:
            resp = self._request("POST", "/query", data=payload)
        if resp.status_code >= 400:
            raise InfluxQueryError(f"InfluxDB query failed (HTTP {resp.status_code}): "
                                   f"{_server_error(resp)} [query: {influxql}]")
        merged: dict[int, dict[str, Any]] = {}
        for raw in resp.content.split(b"\n"):  # chunked answer: one JSON document per line
            if not raw.strip():
                continue
            chunk = json.loads(raw)
            if chunk.get("error"):
                raise InfluxQueryError(f"InfluxDB query failed: {chunk['error']} [query: {influxql}]")
            for result in chunk.get("results", []):
                sid = int(result.get("statement_id", 0))
                if result.get("error"):
                    raise InfluxQueryError(f"InfluxDB query failed: {result['error']} "
                                           f"[query: {influxql}]")
                merged.setdefault(sid, {"statement_id": sid, "series": []})["series"].extend(
                    result.get("series", []))
        return [merged[k] for k in sorted(merged)]

    @staticmethod
    def _series_frame(series: list[dict[str, Any]], epoch: str | None) -> pd.DataFrame:
        """All series of one statement as one frame: one row per value row, tags repeated per series."""
        if not series:
            return pd.DataFrame()
        columns: list[str] = []
        for s in series:
            columns.extend(c for c in s["columns"] if c not in columns)
        tag_names: list[str] = []
        for s in series:
            tag_names.extend(k for k in (s.get("tags") or {}) if k not in tag_names)
        if all(s["columns"] == columns for s in series):
            rows = list(itertools.chain.from_iterable(s.get("values") or [] for s in series))
            out = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
        else:  # e.g. SELECT * over measurements with different fields
            out = pd.concat([pd.DataFrame(s.get("values") or [], columns=s["columns"], dtype=object)
                             for s in series], ignore_index=True).reindex(columns=columns)
            out = out.infer_objects()
        lengths = [len(s.get("values") or []) for s in series]
        for t in tag_names:
            per_series = [(s.get("tags") or {}).get(t) or None for s in series]
            out[t] = pd.array(np.repeat(np.array(per_series, dtype=object), lengths), dtype="string")
        if len({s.get("name") for s in series}) > 1:
            out["measurement"] = pd.array(np.repeat(np.array([s.get("name") for s in series], dtype=object),
                                                    lengths), dtype="string")
        if "time" in out.columns:
            unit = {"u": "us", "ns": "ns", "ms": "ms", "s": "s", "m": "m", "h": "h"}.get(epoch or "")
            time = (pd.to_datetime(out["time"].astype("int64"), unit=unit, utc=True) if unit
                    else pd.to_datetime(out["time"], utc=True, format="ISO8601"))
            out["time"] = time.astype("datetime64[ns, UTC]")
        return out

    def query(self, influxql: str, *, params: dict[str, object] | None = None,
              epoch: str = "s") -> pd.DataFrame:
        """One InfluxQL statement → a frame. Several series become one frame with their tags as
        ``string`` columns (empty tag → ``<NA>``; a ``measurement`` column when several measurements
        answer). ``time`` is ``datetime64[ns, UTC]`` (``epoch``: unit the server sends: h m s ms u ns).

        Values supplied by people go in ``params`` (``$name`` in the query, sent as the ``params`` JSON:
        no InfluxQL injection); identifiers go through :func:`quote_ident`.
        """
        results = self._query_raw(influxql, params, epoch)
        if len(results) > 1:
            raise InfluxQueryError(f"query() takes one statement, got {len(results)}; use query_many()")
        return self._series_frame(results[0]["series"] if results else [], epoch)

    def query_many(self, influxql: str, *, params: dict[str, object] | None = None,
                   epoch: str = "s") -> list[pd.DataFrame]:
        """Several ``;``-separated statements → one frame per statement (empty frame when no rows)."""
        return [self._series_frame(r["series"], epoch) for r in self._query_raw(influxql, params, epoch)]

    def count(self, measurement: str, start: object | None = None, end: object | None = None, *,
              field: str | None = None) -> int:
        """Points of ``measurement`` with ``start <= time < end`` (whole range when ``None``).

        Counts the points carrying ``field``; with ``field=None`` the largest per-field count, which is
        the number of points when some field is on every point (true of every envmon measurement:
        ``readings`` always carry ``flag``, even when ``value`` is missing).
        """
        lo = MIN_TIME_NS if start is None else _as_utc(start, "start").value
        hi = MAX_TIME_NS if end is None else _as_utc(end, "end").value
        selector = f"count({quote_ident(field)})" if field else "count(*)"
        frame = self.query(f"SELECT {selector} FROM {quote_ident(measurement)} "
                           "WHERE time >= $lo AND time < $hi", params={"lo": lo, "hi": hi})
        if frame.empty:
            return 0
        counts = frame[[c for c in frame.columns if c.startswith("count")]]
        return int(counts.max(axis=1).sum())

    def read_readings(self, start: object, end: object, *, zone: str | Sequence[str] | None = None,
                      kind: str | Sequence[str] | None = None, point: str | Sequence[str] | None = None,
                      parameter: str | Sequence[str] | None = None,
                      statistic: str | Sequence[str] | None = None,
                      period: str | Sequence[str] | None = None,
                      valid_only: bool = False) -> pd.DataFrame:
        """Canonical readings with ``start <= time < end`` (timezone-aware bounds), sorted by time.

        Each filter is one value or a list (any of). ``valid_only`` keeps flag ``N`` only
        (:data:`sensors.schema.VALID_FLAG`). All values are sent as bind parameters.
        """
        lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
        params: dict[str, object] = {"start": lo.value, "end": hi.value}
        where = ["time >= $start", "time < $end"]
        for tag, wanted in (("zone", zone), ("kind", kind), ("point", point), ("parameter", parameter),
                            ("statistic", statistic), ("period", period)):
            if wanted is None:
                continue
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            if not values:
                return schema.empty_readings()
            alternatives = []
            for i, v in enumerate(values):
                params[f"{tag}_{i}"] = str(v)
                alternatives.append(f"{quote_ident(tag)} = ${tag}_{i}")
            where.append("(" + " OR ".join(alternatives) + ")")
        if valid_only:
            params["valid_flag"] = schema.VALID_FLAG
            where.append('"flag" = $valid_flag')
        fields = ", ".join(quote_ident(f) for f in READINGS_FIELDS + LEGACY_READINGS_FIELDS)
        group = ", ".join(quote_ident(t) for t in schema.TAG_COLUMNS)
        frame = self.query(f"SELECT {fields} FROM {quote_ident(READINGS_MEASUREMENT)} "
                           f"WHERE {' AND '.join(where)} GROUP BY {group}", params=params, epoch="ns")
        if frame.empty:
            return schema.empty_readings()
        return readings_from_fields(frame)
