"""InfluxDB store over the v1 HTTP API (``POST /write`` line protocol, ``GET/POST /query`` InfluxQL).

The v1 API is the one every InfluxDB we may meet serves: 1.x natively, 2.4+ and 3 Core through their
v1-compatibility endpoints. Line protocol is produced by ``influxdb-client``'s DataFrame serialiser
(:class:`influxdb_client.client.write.dataframe_serializer.DataframeSerializer`); the old ``influxdb``
``DataFrameClient`` is not used (with pandas 3 it writes 1970 timestamps).

InfluxDB layout
===============

Database ``settings.influx_db`` (``envmon``), default retention policy (``autogen``, infinite).
On InfluxDB 2.x/3 the database is a bucket that must exist (with a DBRP mapping on 2.x);
:meth:`InfluxStore.ensure_database` creates it only where ``CREATE DATABASE`` is allowed (1.x).

Timestamps are UTC. Writes use ``precision=s`` when every timestamp of a batch is a whole second (all
readings: HJ 212 ``DataTime`` and lab sample times have second resolution) and ``precision=ns``
otherwise; the stored instant is the same either way, so precision never changes a point's identity.

===============  ===========================================  ===================================  ========
measurement      tags (series key)                            fields                               time
===============  ===========================================  ===================================  ========
``readings``     ``zone`` ``enterprise`` (absent for          ``value`` float, ``unit`` ``flag``   ``time``
                 cluster-level points) ``point`` ``kind``     ``qualifier`` (absent unless ``<``)
                 ``parameter`` ``statistic`` ``period``       ``source`` ``batch`` strings
                 (:data:`sensors.schema.TAG_COLUMNS`)      (:data:`sensors.schema.FIELD_COLUMNS`)
``assessments``  :data:`ASSESSMENT_TAGS`                      :data:`ASSESSMENT_FIELDS`            window
                                                                                                   start
``capture``      written by the capture-rate module           (its own docstring)                  …
``hw_ledger``    :data:`LEDGER_TAGS`                          :data:`LEDGER_FIELDS`                ``date``
===============  ===========================================  ===================================  ========

Why ``flag`` (and ``unit``, ``qualifier``, ``source``, ``batch``) are fields, not tags: a point is
identified by measurement + tag set + time, and InfluxDB overwrites the fields of an identical point.
A reading re-sent with a corrected HJ 212 flag (or re-imported in a later batch) must replace the old
one, not add a second series; so only what identifies the reading
(:data:`sensors.schema.IDENTITY` plus the attributes the point id determines: zone, enterprise,
kind) is in the series key. Writing the same batch twice therefore leaves every count unchanged.
InfluxDB rejects empty tag values, so ``<NA>``/empty tags are omitted from a line (an ``enterprise``
-less point is a different series from any enterprise's point, as it should be); ``<NA>`` fields are
omitted too and read back as ``<NA>``.

Overwrite caveats: InfluxDB *merges* the fields of a re-written point (new values win, fields the new
line lacks keep their old value). So ``qualifier`` is always written, ``""`` standing for "detected"
(read back as ``<NA>``): a lab result corrected from ``<`` (non-detect) to a detected value clears the
``<``. A ``value`` cannot be erased that way (line protocol has no NaN); a correction to "no value" must
carry a flag that says so. Field types are fixed per shard (7-day shard groups on 1.x): a conflicting
type is a 400 within the week of existing data, but may be accepted in another week — only ever write
frames through this module so that ``value`` stays float.

Transport: batches of ``batch_lines`` lines, gzip-compressed bodies (``Content-Encoding: gzip``),
retries with exponential backoff by :class:`urllib3.util.Retry` mounted on a :class:`requests.Session`
(connection errors, read errors, 429/5xx, ``Retry-After`` respected, ``POST`` included — writes are
idempotent). A 4xx answer raises :class:`InfluxWriteError` with the server's message and the first
offending line. A frame is validated as a whole (:func:`prepare_frame`) before its first line is
sent; it is then serialised one request at a time while the previous request is in flight.
:class:`SpoolingWriter` adds a durable on-disk spool for when the server is down.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import itertools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
import requests
from influxdb_client.client.write.dataframe_serializer import DataframeSerializer
from influxdb_client.client.write_api import PointSettings
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from sensors import schema

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "ASSESSMENTS_MEASUREMENT",
    "ASSESSMENT_FIELDS",
    "ASSESSMENT_TAGS",
    "CAPTURE_MEASUREMENT",
    "HW_LEDGER_MEASUREMENT",
    "LEDGER_FIELDS",
    "LEDGER_TAGS",
    "READINGS_MEASUREMENT",
    "InfluxError",
    "InfluxNotConfigured",
    "InfluxQueryError",
    "InfluxStore",
    "InfluxUnavailable",
    "InfluxWriteError",
    "LineBatch",
    "SpoolingWriter",
    "WriteReport",
    "quote_ident",
    "read_spool_file",
    "readings_to_line_protocol",
    "to_line_protocol",
]

log = logging.getLogger(__name__)

READINGS_MEASUREMENT = "readings"
ASSESSMENTS_MEASUREMENT = "assessments"
CAPTURE_MEASUREMENT = "capture"
HW_LEDGER_MEASUREMENT = "hw_ledger"

#: Suggested layout for :meth:`InfluxStore.write_frame` of an assessments frame (time = window_start).
ASSESSMENT_TAGS = ["zone", "enterprise", "point", "kind", "parameter", "check", "averaging"]
ASSESSMENT_FIELDS = [c for c in schema.ASSESSMENT_COLUMNS
                     if c not in ASSESSMENT_TAGS and c != "window_start"]
#: Suggested layout for the hazardous-waste ledger (time = date). Quantities in t.
LEDGER_TAGS = ["zone", "enterprise", "store", "waste_code"]
LEDGER_FIELDS = [c for c in schema.LEDGER_COLUMNS if c not in LEDGER_TAGS and c != "date"]

#: InfluxDB's representable time range (ns since the epoch); used as default query bounds because
#: InfluxQL otherwise bounds aggregate queries by now().
MIN_TIME_NS = -9223372036854775806
MAX_TIME_NS = 9223372036854775806

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: 4xx answers that mean "this data is bad" (1.x: 400; 2.x: 400/422) as opposed to configuration
#: problems (401/403 credentials, 404 database not found, 413 body too large) that a retry may fix.
_BAD_DATA_STATUSES = frozenset({400, 422})


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------
class InfluxError(RuntimeError):
    """Base class of the store's errors."""


class InfluxNotConfigured(InfluxError):
    """``ENVMON_INFLUX_URL`` is not set."""


class InfluxUnavailable(InfluxError):
    """The server could not be reached, or kept answering 429/5xx, after all retries."""


class InfluxWriteError(InfluxError):
    """The server answered a write with a 4xx status.

    ``status``: HTTP status; ``message``: the server's error text; ``first_line``: the first line of the
    batch the error refers to; ``lines_before``: lines of the same call written before this batch.
    ``bad_data`` is true for 400/422 (the lines themselves are wrong: syntax, field type conflict);
    false for 401/403/404/413 (credentials, missing database) where the data may be written later.
    """

    def __init__(self, status: int, message: str, first_line: str | None, lines_before: int = 0):
        self.status, self.message, self.first_line, self.lines_before = status, message, first_line, \
            lines_before
        super().__init__(f"InfluxDB rejected a write (HTTP {status}): {message}"
                         + (f"; first offending line: {first_line!r}" if first_line else ""))

    @property
    def bad_data(self) -> bool:
        return self.status in _BAD_DATA_STATUSES


class InfluxQueryError(InfluxError):
    """The server rejected a query (syntax, unknown database, …); the message is the server's."""


# ---------------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineBatch:
    """Line-protocol lines plus the ``precision`` their timestamps are written in (``s`` or ``ns``)."""

    lines: list[str]
    precision: str

    def __len__(self) -> int:
        return len(self.lines)


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier (``"`` and ``\\`` escaped); rejects empty and NUL/newline."""
    if not isinstance(name, str) or not name or any(c in name for c in "\x00\n\r"):
        raise ValueError(f"invalid InfluxQL identifier: {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utc_times(values: pd.Series | pd.Index, what: str) -> pd.DatetimeIndex:
    times = pd.DatetimeIndex(pd.to_datetime(values))
    if times.tz is None:
        raise ValueError(f"{what} must be timezone-aware (UTC); got naive datetimes")
    times = times.tz_convert("UTC").as_unit("ns")
    if times.hasnans:
        first = int(np.flatnonzero(times.isna())[0])
        raise ValueError(f"{what} has {int(times.isna().sum())} missing time(s) (NaT), first at row {first}")
    return times


def _tag_values(col: pd.Series, name: str) -> tuple[pd.Series, np.ndarray]:
    """Tag column as object values (None for NA/empty) and the boolean "absent" mask.

    Checked on the distinct values only (tags have few), so this stays cheap for millions of rows.
    """
    text = col.astype("string")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    uniques = pd.Series(uniques, dtype="string")
    bad = uniques.str.contains(r"[\n\r]|\\$", regex=True).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        value = uniques[int(np.flatnonzero(bad)[0])]
        row = int(np.flatnonzero(text.to_numpy(dtype=object) == value)[0])
        raise ValueError(f"tag {name!r} value {value!r} (row {row}) contains a line break or "
                         "ends with a backslash, which line protocol cannot carry in a tag")
    empty_codes = np.flatnonzero((uniques.str.len() == 0).to_numpy(dtype=bool))
    absent = (codes < 0) | np.isin(codes, empty_codes)
    return text.astype(object).where(~absent, None), absent


def _field_values(col: pd.Series, name: str) -> pd.Series:
    """Field column in a dtype the serialiser writes correctly (float/int/bool or str with None)."""
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        times = pd.to_datetime(col)
        if times.dt.tz is None:
            raise ValueError(f"datetime field {name!r} must be timezone-aware")
        text = times.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return text.astype(object).where(times.notna(), None)
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
        return col
    if pd.api.types.is_integer_dtype(dtype):
        return col if not isinstance(dtype, pd.api.extensions.ExtensionDtype) else col.astype("Int64")
    if pd.api.types.is_float_dtype(dtype):
        values = col.astype("float64")
        if np.isinf(values.to_numpy()).any():
            row = int(np.flatnonzero(np.isinf(values.to_numpy()))[0])
            raise ValueError(f"field {name!r} is infinite at row {row}; line protocol has no infinity")
        return values
    text = col.astype("string")
    return text.astype(object).where(text.notna(), None)


@dataclass(frozen=True)
class PreparedFrame:
    """A validated frame ready for the serialiser (see :func:`prepare_frame`); serialise any row slice."""

    measurement: str
    tags: list[str]
    fields: list[str]
    work: pd.DataFrame       # index: UTC times (ns); tag columns object/None; field columns
    pattern: np.ndarray      # per row: bit i set = tag i absent
    precision: str           # "s" when every time is a whole second, else "ns"

    def __len__(self) -> int:
        return len(self.work)

    def serialise(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Line protocol of rows ``start:stop`` (one line per row)."""
        part_all = self.work.iloc[start:stop]
        pattern = self.pattern[start:stop]
        groups = np.unique(pattern)
        lines: list[str] = []
        for code in groups:
            part = part_all.iloc[np.flatnonzero(pattern == code)] if len(groups) > 1 else part_all
            present = [t for i, t in enumerate(self.tags) if not (int(code) >> i) & 1]
            # Fields missing on every row are left out: the serialiser would test each for NA per row.
            kept = [f for f in self.fields if part[f].notna().any()]
            lines.extend(DataframeSerializer(
                part[[*present, *kept]], PointSettings(), self.precision,
                data_frame_measurement_name=self.measurement, data_frame_tag_columns=present).serialize())
        if len(lines) != len(part_all):  # the serialiser silently drops rows without fields
            raise AssertionError(f"serialiser produced {len(lines)} lines for {len(part_all)} rows")
        return lines


def prepare_frame(df: pd.DataFrame, measurement: str, tags: Sequence[str], fields: Sequence[str],
                  time_column: str) -> PreparedFrame:
    """Validate ``df`` for line protocol and convert its columns for the serialiser (vectorised, cheap).

    Raises :class:`ValueError` for a naive or missing time, a row with no field at all, an infinite
    number or a tag value line protocol cannot carry, and :class:`KeyError` for a missing column, so a
    bad frame is refused before any of it is written.

    The serialiser (``influxdb-client``'s :class:`DataframeSerializer`) is fed what it handles
    correctly: the time as a UTC ``datetime64[ns]`` index (its ``Timestamp.value`` is ns whatever the
    input resolution, e.g. pandas 3's ``datetime64[us, UTC]``); tag columns without nulls (its null-tag
    path escapes tag values with the *string-field* table, so rows are grouped by which tags are
    present); string columns as ``object`` with ``None`` (``pd.NA`` breaks its ``val == ''`` test).
    """
    tags, fields = list(tags), list(fields)
    missing = [c for c in [time_column, *tags, *fields] if c not in df.columns]
    if missing:
        raise KeyError(f"frame for measurement {measurement!r} lacks column(s): {', '.join(missing)}")
    overlap = set(tags) & set(fields)
    if overlap:
        raise ValueError(f"column(s) both tag and field: {sorted(overlap)}")
    if not fields:
        raise ValueError("at least one field column is needed")
    if df.empty:
        return PreparedFrame(measurement, tags, fields, pd.DataFrame(columns=[*tags, *fields]),
                             np.zeros(0, dtype=np.int64), "s")
    times = _utc_times(df[time_column], f"{measurement}.{time_column}")
    precision = "s" if bool((times.asi8 % 1_000_000_000 == 0).all()) else "ns"

    data: dict[str, pd.Series] = {}
    pattern = np.zeros(len(df), dtype=np.int64)
    for i, t in enumerate(tags):
        data[t], absent = _tag_values(df[t], t)
        pattern |= absent.astype(np.int64) << i
    field_frame = pd.DataFrame({f: _field_values(df[f], f) for f in fields}, index=df.index)
    empty_rows = field_frame.isna().all(axis=1).to_numpy()
    if empty_rows.any():
        row = int(np.flatnonzero(empty_rows)[0])
        raise ValueError(f"{int(empty_rows.sum())} row(s) of {measurement!r} have no field value "
                         f"(all of {fields} missing), first at row {row}")
    work = pd.concat([pd.DataFrame(data, index=df.index), field_frame], axis=1)
    work.index = times
    return PreparedFrame(measurement, tags, fields, work, pattern, precision)


def to_line_protocol(df: pd.DataFrame, measurement: str, tags: Sequence[str], fields: Sequence[str],
                     time_column: str) -> LineBatch:
    """Serialise ``df`` to line protocol (:func:`prepare_frame`, then the serialiser on all rows).

    One line per row (row order kept within each group of rows that lack the same tags). Tags that are
    ``<NA>`` or empty are left out of that row's line; ``<NA>`` fields are left out.
    """
    prepared = prepare_frame(df, measurement, tags, fields, time_column)
    return LineBatch(prepared.serialise(), prepared.precision)


def prepare_readings(df: pd.DataFrame) -> PreparedFrame:
    """A canonical readings batch (conformed with :func:`sensors.schema.conform`) for ``readings``.

    ``qualifier`` ``<NA>`` is written as ``""`` so that a re-sent reading clears an old ``<``.
    """
    readings = schema.conform(df)
    readings["qualifier"] = readings["qualifier"].fillna("")
    return prepare_frame(readings, READINGS_MEASUREMENT, schema.TAG_COLUMNS, schema.FIELD_COLUMNS, "time")


def readings_to_line_protocol(df: pd.DataFrame) -> LineBatch:
    """A canonical readings batch → ``readings`` line protocol."""
    prepared = prepare_readings(df)
    return LineBatch(prepared.serialise(), prepared.precision)


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
        self.url = url.rstrip("/")
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
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write") as pool:
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
        ``readings`` always carry ``flag``, ``source`` and ``batch``, even when ``value`` is missing).
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
        fields = ", ".join(quote_ident(f) for f in schema.FIELD_COLUMNS)
        group = ", ".join(quote_ident(t) for t in schema.TAG_COLUMNS)
        frame = self.query(f"SELECT {fields} FROM {quote_ident(READINGS_MEASUREMENT)} "
                           f"WHERE {' AND '.join(where)} GROUP BY {group}", params=params, epoch="ns")
        if frame.empty:
            return schema.empty_readings()
        for col in schema.READINGS_COLUMNS:
            if col not in frame:
                frame[col] = pd.NA
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        frame["qualifier"] = frame["qualifier"].astype("string").replace("", pd.NA)
        frame = frame.sort_values(["time", "point", "parameter", "statistic", "period"], kind="stable")
        return schema.conform(frame.reset_index(drop=True))


# ---------------------------------------------------------------------------------------------------
# Durable write spool
# ---------------------------------------------------------------------------------------------------
@dataclass
class WriteReport:
    """What :class:`SpoolingWriter` did with one call's lines."""

    lines_written: int = 0
    lines_spooled: int = 0
    lines_rejected: int = 0
    spool_files: list[Path] = field(default_factory=list)
    rejected_files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def spooled(self) -> bool:
        return self.lines_spooled > 0

    @property
    def total(self) -> int:
        return self.lines_written + self.lines_spooled + self.lines_rejected


_HEADER = "# envmon write spool"
_SPOOL_GLOB = "*.lp.gz"
_last_stamp_lock = threading.Lock()
_last_stamp = 0


def _stamp() -> str:
    """A strictly increasing UTC time stamp for file names (``20261122T052018123456789Z``)."""
    global _last_stamp
    with _last_stamp_lock:
        now = max(time.time_ns(), _last_stamp + 1)
        _last_stamp = now
    secs, frac = divmod(now, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y%m%dT%H%M%S") + f"{frac:09d}Z"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _join_multiline(pieces: list[str]) -> list[str]:
    """Re-join physical lines split inside a quoted string field (raw newlines are legal there)."""
    lines: list[str] = []
    current: str | None = None
    for piece in pieces:
        current = piece if current is None else current + "\n" + piece
        if re.sub(r"\\.", "", current).count('"') % 2 == 0:
            lines.append(current)
            current = None
    if current is not None:
        lines.append(current)
    return lines


def read_spool_file(path: Path) -> LineBatch:
    """Lines and precision of a spool file (gzip text after a ``# envmon write spool …`` header line)."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    head, _, body = text.partition("\n")
    if not head.startswith(_HEADER):
        raise ValueError(f"{path}: not an envmon write-spool file (missing header)")
    meta = dict(item.split("=", 1) for item in head[len(_HEADER):].split() if "=" in item)
    pieces = body.removesuffix("\n").split("\n") if body else []
    lines = _join_multiline(pieces) if meta.get("multiline") == "1" else pieces
    return LineBatch(lines, meta.get("precision", "ns"))


class SpoolingWriter:
    """Writes through ``store``; what cannot be written now is kept in ``spool_dir`` and replayed later.

    * Server down / 5xx after retries / 401, 403, 404 (credentials, database missing): the exact line
      protocol of the unwritten batches is written to ``spool_dir/<UTC stamp>-<uuid>.lp.gz`` (gzip,
      fsync'd, atomically renamed) and the call returns a :class:`WriteReport` with ``spooled``.
    * 400/422 (the data is wrong, e.g. a field type conflict): that batch goes to
      ``spool_dir/rejected/`` with ``<name>.reason.txt`` (HTTP status, server message, first offending
      line) and is never retried automatically; the other batches are still written.
    * While older spool files exist, new lines are spooled behind them (after one replay attempt), so
      a later correction is never overwritten by an older spooled value.

    :meth:`replay` writes spooled files oldest first and deletes each only after it was written.
    """

    def __init__(self, store: InfluxStore, spool_dir: Path) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.rejected_dir = self.spool_dir / "rejected"

    # --- files ------------------------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Spool files waiting for replay, oldest first."""
        if not self.spool_dir.is_dir():
            return []
        return sorted(p for p in self.spool_dir.glob(_SPOOL_GLOB) if not p.name.startswith("."))

    def _spool(self, lines: Sequence[str], precision: str, directory: Path | None = None) -> Path:
        directory = directory or self.spool_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_stamp()}-{uuid.uuid4().hex}.lp.gz"
        multiline = int(any("\n" in line for line in lines))
        text = (f"{_HEADER} precision={precision} lines={len(lines)} multiline={multiline}\n"
                + "\n".join(lines) + "\n")
        _write_durably(path, gzip.compress(text.encode("utf-8"), compresslevel=6))
        return path

    def _reason_file(self, rejected: Path, error: InfluxWriteError) -> Path:
        reason = rejected.with_name(rejected.name.removesuffix(".lp.gz") + ".reason.txt")
        text = (f"rejected_at: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                f"server: {self.store.url} database: {self.store.database}\n"
                f"http_status: {error.status}\nmessage: {error.message}\n"
                f"first_offending_line: {error.first_line}\n")
        _write_durably(reason, text.encode("utf-8"))
        return reason

    def _reject(self, lines: Sequence[str], precision: str, error: InfluxWriteError) -> Path:
        path = self._spool(lines, precision, self.rejected_dir)
        self._reason_file(path, error)
        log.error("InfluxDB rejected %d line(s) (kept in %s): %s", len(lines), path, error)
        return path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[bool]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with open(self.spool_dir / ".lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- writing ----------------------------------------------------------------------------------
    def write_batch(self, batch: LineBatch) -> WriteReport:
        report = WriteReport()
        if not batch.lines:
            return report
        if self.pending():
            self.replay()
            if self.pending():
                report.spool_files.append(self._spool(batch.lines, batch.precision))
                report.lines_spooled = len(batch.lines)
                report.errors.append("older spool files still pending; new lines spooled behind them")
                return report
        step = self.store.batch_lines
        for start in range(0, len(batch.lines), step):
            chunk = batch.lines[start:start + step]
            try:
                report.lines_written += self.store.write_lines(chunk, batch.precision)
            except InfluxWriteError as exc:
                if exc.bad_data:
                    report.rejected_files.append(self._reject(chunk, batch.precision, exc))
                    report.lines_rejected += len(chunk)
                    report.errors.append(str(exc))
                    continue
                rest = batch.lines[start:]
                report.errors.append(str(exc))
            except InfluxUnavailable as exc:
                rest = batch.lines[start:]
                report.errors.append(str(exc))
            else:
                continue
            path = self._spool(rest, batch.precision)
            report.spool_files.append(path)
            report.lines_spooled += len(rest)
            log.warning("InfluxDB write failed (%s); %d line(s) spooled to %s", report.errors[-1],
                        len(rest), path)
            break
        return report

    def write_readings(self, df: pd.DataFrame) -> WriteReport:
        """Serialise a canonical readings batch and write or spool it."""
        return self.write_batch(readings_to_line_protocol(df))

    def write_frame(self, df: pd.DataFrame, measurement: str, tags: list[str], fields: list[str],
                    time_column: str) -> WriteReport:
        return self.write_batch(to_line_protocol(df, measurement, tags, fields, time_column))

    def replay(self) -> tuple[int, int, int]:
        """Write spooled files oldest first. Returns ``(files_ok, lines_ok, files_left)``.

        A file is deleted only after all its lines were accepted; a file the server rejects as bad data
        (400/422) moves to ``rejected/`` with a ``.reason.txt``; replay stops at the first file that
        cannot be written for another reason (server still down), keeping the order. Concurrent replays
        are excluded by a lock file (the loser returns at once).
        """
        files_ok = lines_ok = 0
        with self._locked() as got_lock:
            if not got_lock:
                return 0, 0, len(self.pending())
            for path in self.pending():
                try:
                    batch = read_spool_file(path)
                except (OSError, ValueError, EOFError) as exc:
                    target = self.rejected_dir / path.name
                    self.rejected_dir.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                    (target.with_name(target.name.removesuffix(".lp.gz") + ".reason.txt")).write_text(
                        f"unreadable spool file: {exc}\n", encoding="utf-8")
                    continue
                first_error: InfluxWriteError | None = None
                try:
                    for start in range(0, len(batch.lines), self.store.batch_lines):
                        chunk = batch.lines[start:start + self.store.batch_lines]
                        try:
                            self.store.write_lines(chunk, batch.precision)
                        except InfluxWriteError as exc:
                            if not exc.bad_data:
                                raise
                            first_error = first_error or exc
                except (InfluxUnavailable, InfluxWriteError) as exc:
                    log.warning("write spool replay stopped at %s: %s", path.name, exc)
                    break
                if first_error is not None:
                    self.rejected_dir.mkdir(parents=True, exist_ok=True)
                    target = self.rejected_dir / path.name
                    os.replace(path, target)
                    self._reason_file(target, first_error)
                    _fsync_dir(self.spool_dir)
                    log.error("spooled file %s rejected by InfluxDB: %s", path.name, first_error)
                    continue
                path.unlink()
                _fsync_dir(self.spool_dir)
                files_ok += 1
                lines_ok += len(batch.lines)
        return files_ok, lines_ok, len(self.pending())
