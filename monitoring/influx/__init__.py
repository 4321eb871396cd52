"""InfluxDB store over the v1 HTTP API (``POST /write`` line protocol, ``GET/POST /query`` InfluxQL).

The v1 API is the one every InfluxDB we may meet serves: 1.x natively, 2.4+ and 3 Core through their
v1-compatibility endpoints. Line protocol is written column-wise by :mod:`~monitoring.influx.columns`
with ``influxdb-client``'s escaping rules (tests compare it line for line with
:class:`influxdb_client.client.write.dataframe_serializer.DataframeSerializer`); the old ``influxdb``
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
``readings``     ``zone`` ``enterprise`` (absent for          ``value`` float, ``flag``; lean      ``time``
                 cluster-level points) ``point`` ``kind``     shape, :data:`READINGS_FIELDS`:
                 ``parameter`` ``statistic`` ``period``       ``qualifier`` (lab lines), ``unit``
                 (:data:`sensors.schema.TAG_COLUMNS`)         and ``source`` only where not implied
``assessments``  :data:`ASSESSMENT_TAGS`                      :data:`ASSESSMENT_FIELDS`            window
                                                                                                   start
``capture``      written by the capture-rate module           (its own docstring)                  …
``hw_ledger``    :data:`LEDGER_TAGS`                          :data:`LEDGER_FIELDS`                ``date``
===============  ===========================================  ===================================  ========

The lean ``readings`` line (schema change of 2026-11, issue #13): a line carries what a query needs —
the tags, ``value`` and ``flag`` — and nothing constant per batch or implied by the tags:

* ``unit`` only where it is not the parameter's canonical unit (the parameter table in ``sensors/``;
  after :func:`monitoring.units.normalise` that is only parameters the table does not know);
* ``source`` only where the period does not imply it (``sample`` → ``lab``, otherwise ``hj212``; the
  simulator's ``sim`` is written);
* ``qualifier`` on lab lines only (``""`` = detected, ``<`` = non-detect);
* ``batch`` and ``origin`` never: which batch brought which time span is in the ingest record
  (``records/ingest/<zone>/<batch>.json``) and the quality summary.

:meth:`InfluxStore.read_readings` fills the canonical frame from either shape
(:func:`~monitoring.influx.lineprotocol.readings_from_fields`): points written before the change keep
their ``unit``/``source``/``batch`` fields, which are returned as stored; lean points get ``unit`` and
``source`` filled as above and ``batch`` ``<NA>``. The series key did not change, so a reading re-sent
after the change overwrites the old point (InfluxDB merges fields: the old ``unit``/``source``/``batch``
stay and still read the same). No migration of existing data is needed; the reader is the
compatibility.

Why ``flag`` (and ``unit``, ``qualifier``, ``source``) are fields, not tags: a point is
identified by measurement + tag set + time, and InfluxDB overwrites the fields of an identical point.
A reading re-sent with a corrected HJ 212 flag (or re-imported in a later batch) must replace the old
one, not add a second series; so only what identifies the reading
(:data:`sensors.schema.IDENTITY` plus the attributes the point id determines: zone, enterprise,
kind) is in the series key. Writing the same batch twice therefore leaves every count unchanged.
InfluxDB rejects empty tag values, so ``<NA>``/empty tags are omitted from a line (an ``enterprise``
-less point is a different series from any enterprise's point, as it should be); ``<NA>`` fields are
omitted too and read back as ``<NA>``.

Overwrite caveats: InfluxDB *merges* the fields of a re-written point (new values win, fields the new
line lacks keep their old value). So ``qualifier`` is always written on lab lines, ``""`` standing for
"detected" (read back as ``<NA>``): a lab result corrected from ``<`` (non-detect) to a detected value
clears the ``<``. A ``value`` cannot be erased that way (line protocol has no NaN); a correction to "no value" must
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


Modules: :mod:`~monitoring.influx.layout` (measurements, tags, fields), :mod:`~monitoring.influx.lineprotocol`
(frames → lines), :mod:`~monitoring.influx.client` (:class:`InfluxStore`, the HTTP client),
:mod:`~monitoring.influx.write_spool` (:class:`SpoolingWriter`), :mod:`~monitoring.influx.server` (a managed
local ``influxd`` for ``envmon up`` and the tests), :mod:`~monitoring.influx.errors`.
"""

from monitoring.influx.client import MAX_TIME_NS, MIN_TIME_NS, InfluxStore
from monitoring.influx.errors import (
    InfluxError,
    InfluxNotConfigured,
    InfluxQueryError,
    InfluxUnavailable,
    InfluxWriteError,
)
from monitoring.influx.layout import (
    ASSESSMENT_FIELDS,
    ASSESSMENT_TAGS,
    ASSESSMENTS_MEASUREMENT,
    CAPTURE_MEASUREMENT,
    HW_LEDGER_MEASUREMENT,
    LEDGER_FIELDS,
    LEDGER_TAGS,
    READINGS_FIELDS,
    READINGS_MEASUREMENT,
)
from monitoring.influx.lineprotocol import (
    LineBatch,
    PreparedFrame,
    prepare_frame,
    prepare_readings,
    quote_ident,
    readings_to_line_protocol,
    to_line_protocol,
)
from monitoring.influx.write_spool import SpoolingWriter, WriteReport, read_spool_file

__all__ = [
    "ASSESSMENTS_MEASUREMENT",
    "ASSESSMENT_FIELDS",
    "ASSESSMENT_TAGS",
    "CAPTURE_MEASUREMENT",
    "HW_LEDGER_MEASUREMENT",
    "LEDGER_FIELDS",
    "LEDGER_TAGS",
    "MAX_TIME_NS",
    "MIN_TIME_NS",
    "READINGS_FIELDS",
    "READINGS_MEASUREMENT",
    "InfluxError",
    "InfluxNotConfigured",
    "InfluxQueryError",
    "InfluxStore",
    "InfluxUnavailable",
    "InfluxWriteError",
    "LineBatch",
    "PreparedFrame",
    "SpoolingWriter",
    "WriteReport",
    "prepare_frame",
    "prepare_readings",
    "quote_ident",
    "read_spool_file",
    "readings_to_line_protocol",
    "to_line_protocol",
]
