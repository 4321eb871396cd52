"""Batch quality gate for canonical readings, validated with Great Expectations 1.x.

:func:`validate_batch` splits a readings batch (:mod:`sensors.schema`) into ``valid`` rows and
``quarantined`` rows (each with the ``expectation`` it failed first and every ``reason``). Nothing is
dropped: ``len(valid) + len(quarantined) == len(batch)`` — later duplicates are quarantined, not deleted.

Expectations (in the order a row's first failure is named):

=======================  ==========================================================  =================
name                     condition                                                   scope
=======================  ==========================================================  =================
``schema_columns``       exactly the columns of ``schema.READINGS_COLUMNS``          whole batch
``schema_types``         per-column logical type (float64 / str / tz-aware Timestamp)  whole batch
``identity_present``     ``point parameter statistic period time`` not null           rows
``flag_code``            ``flag`` present and a 1–2 letter code                        rows
``value_plausible``      ``min ≤ value ≤ max`` of the parameter table (sensors/)        rows
``time_not_future``      ``time ≤ now + 5 min``                                       rows
``unique_identity``      no repeat of ``schema.IDENTITY`` in the batch (first kept)    rows
``value_present_if_n``   ``value`` not NaN where ``flag == "N"``                      rows
=======================  ==========================================================  =================

Flags outside ``N F M S D C T B`` pass (HJ 212: keep unknown flags verbatim) but are counted in the
summary; they never count as valid data downstream because only ``N`` does.

How GE is used, honestly: Great Expectations evaluates every row expectation on the batch with
``result_format="BASIC"`` and is the validator of record (success and unexpected counts go into the
summary); the schema expectations are read from the frame when it has the schema's columns and dtypes,
and run in GE when it does not (below). GE's row-level output (``COMPLETE`` with
``unexpected_index_list``) grows with the number of failing rows: measured on 1M rows, +1.4 s when
0.1 % fail but ~100 s (vs ~1.5 s for the counts) when a broken stream makes most rows fail. So the
failing rows are selected with vectorised pandas masks that mirror each expectation's condition
(bounded cost whatever fails), and every mask's count is checked
against GE's ``unexpected_count`` (``summary["consistent"]``; a mismatch is logged and reported).
Per-parameter ranges are one pair of ``expect_column_pair_values_a_to_be_greater_than_b``
expectations against ``_min``/``_max`` helper columns, instead of one row-conditioned expectation per
parameter.

GE's cost is mostly per expectation and per call, not per row (≈ 30 ms per expectation to build its
metric graph, whatever the batch size), so (issue #13):

* the row suite is built once per process and reused (only ``time_not_future``'s bound is set per call);
* ``schema_types`` is read from the frame's dtypes — what ``expect_column_values_to_be_of_type`` compares
  for a typed column (``dtype.type.__name__``, its ``observed_value``) — and recorded in the summary in
  GE's form; only when a dtype differs do GE's type expectations run (and name the failure). 14 of 29
  expectations per batch; measured −45 % GE time per batch of 35 k readings;
* ``schema_columns`` is judged the same way, from the frame's columns, and recorded as GE reports it
  (``expect_table_columns_to_match_set``: success, the sorted column names); GE runs it only when the
  columns differ (and names the failure). GE is then given only the columns its row expectations read
  (:data:`ROW_COLUMNS`, 9 of 17): its batch fingerprint and per-metric copies cover those; 13 of the 29
  expectations run in GE per batch. Measured on the five zone batches of the ratio bench, CPU per zone:
  0.13–0.15 → 0.11–0.14 s;
* the frame is loaded as a GE batch once per call (:func:`_run_suite`): ``get_batch().validate()``
  loaded and fingerprinted it twice. Measured on the ratio bench's five zone batches (173 k readings,
  CPU s, summed): quality 1.15 → 0.75;
* during a run each expectation's ``configuration`` is built once (:func:`_configuration`): GE rebuilt it
  from the pydantic model ~95 times per expectation, ~20 % of a validation's CPU;
* the text columns the row expectations read reach GE as categoricals (:func:`_coded`): its not-null,
  regex, set, uniqueness and row-condition tests then work on codes. With the point above, on the ratio
  bench's five zone batches (CPU s, summed): quality 0.63–0.66 → 0.42–0.47; GE's whole result unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.units import parameter_table
from sensors.schema import (
    DATA_FLAGS,
    IDENTITY,
    READINGS_COLUMNS,
    VALID_FLAG,
    conform,
    empty_readings,
    identity_key,
)

#: Importing GE logs ~200 INFO lines "Skipping registering function … does not have a class" (its API
#: docs registry) into every task log; they say nothing about envmon's data. Quieted before the import.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)

import great_expectations as gx  # after its import-time logger is quieted (above)
import great_expectations.expectations as gxe
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation import Expectation

log = logging.getLogger(__name__)

#: Tolerance for clocks running ahead (logger vs. server) before a reading counts as "from the future".
FUTURE_TOLERANCE = timedelta(minutes=5)
FLAG_PATTERN = r"^[A-Za-z]{1,2}$"

#: pandas dtype string → the ``type_`` GE's ``expect_column_values_to_be_of_type`` compares with
#: ``dtype.type`` (StringDtype.type is ``str``; DatetimeTZDtype.type is ``pandas.Timestamp``).
_GE_TYPE = {"float64": "float64", "string": "str", "datetime64[ns, UTC]": "Timestamp"}

#: The columns the row expectations read (:data:`ROW_CHECKS`), and all GE is given of a batch whose columns
#: and dtypes are the schema's (judged from the frame itself, as GE would judge them).
ROW_COLUMNS = [*IDENTITY, "flag", "value", "_min", "_max"]

EXPECTATIONS = ("schema_columns", "schema_types", "identity_present", "flag_code", "value_plausible",
                "time_not_future", "unique_identity", "value_present_if_n")


@dataclass
class QualityResult:
    """Outcome of :func:`validate_batch`."""

    valid: pd.DataFrame                  # canonical readings that passed every expectation
    quarantined: pd.DataFrame            # failing rows + ``expectation`` (first failed) + ``reason`` (all)
    summary: dict[str, Any] = field(default_factory=dict)


@cache
def _batch_definition():
    """One ephemeral GE context per process: pandas data source → dataframe asset → whole-frame batch."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("envmon")
    asset = source.add_dataframe_asset("readings")
    return asset.add_batch_definition_whole_dataframe("batch")


def warm_up() -> None:
    """Build the GE context and the row suite now (~3 s of CPU, once per process), e.g. before forking
    zone workers."""
    _batch_definition()
    _row_suite()


def _suite(expectations: dict[str, Any]) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="envmon_readings")
    for name, exp in expectations.items():
        exp.meta = {"envmon": name}
        suite.add_expectation(exp)
    return suite


@cache
def _row_suite() -> tuple[gx.ExpectationSuite, Any, threading.Lock]:
    """The suite of every batch that has the schema's columns: columns (with ``_min``/``_max``) and
    :data:`ROW_CHECKS`; built once per process. Returns it with its ``time_not_future`` expectation,
    whose ``max_value`` is set for each call (under the lock)."""
    _batch_definition()   # the context must exist before a suite is made
    suite = _suite({check.name: check.expectation(datetime.now(UTC)) for check in ROW_CHECKS})
    clock = next(e for e in suite.expectations if (e.meta or {}).get("envmon") == "time_not_future")
    return suite, clock, threading.Lock()


def _dtype_types(df: pd.DataFrame) -> dict[str, dict[str, Any]] | None:
    """``schema_types.<column>`` results in GE's form when every column has its schema dtype (the
    comparison ``expect_column_values_to_be_of_type`` makes for a typed column), else ``None``."""
    out = {}
    for c, t in READINGS_COLUMNS.items():
        name = getattr(df[c].dtype.type, "__name__", None)
        if name != _GE_TYPE[t] or df[c].dtype == object:
            return None
        out[f"schema_types.{c}"] = {"success": True, "unexpected_count": None, "observed": name,
                                    "error": False}
    return out


def _ge_validate(frame: pd.DataFrame, expectations: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run the named GE expectations as one suite on ``frame``; name → {success, unexpected_count, observed}."""
    return _ge_results(_run_suite(frame, _suite(expectations)))


def _run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite):
    """GE's result of ``suite`` on ``frame`` (``result_format="BASIC"``), the frame loaded as a batch once.

    GE's own validator for a batch definition, as ``ValidationDefinition.run`` and ``Batch.validate``
    build it: ``batch_definition.get_batch(…).validate(suite)`` loads (and fingerprints) the frame twice,
    once for the batch and again in the validator it makes; ``ValidationDefinition.run`` loads it once
    but also stores every result in the context's validation-results store, which envmon never reads
    (its summary is written by :func:`write_summary`)."""
    from great_expectations.validator.v1_validator import Validator

    _validating.configurations = {}
    try:
        return Validator(batch_definition=_batch_definition(), batch_parameters={"dataframe": frame},
                         result_format="BASIC").validate_expectation_suite(suite)
    finally:
        _validating.configurations = None


#: GE's ``Expectation.configuration``: a property that builds a new ``ExpectationConfiguration`` from the
#: expectation's pydantic model (``.dict()``, class name → snake case) on every read, and GE's validator
#: reads it ~95 times per expectation per validation (success, domain and runtime kwargs; GE 1.24).
_GE_CONFIGURATION = Expectation.__dict__.get("configuration")
_validating = threading.local()   # .configurations: id → (expectation, its configuration) during a run


def _configuration(self: Expectation):
    """``Expectation.configuration`` built once per expectation object and run (:func:`_run_suite`);
    outside a run, and in other threads, GE's own property unchanged. Nothing changes an expectation
    during a run (``time_not_future``'s bound is set before it, under the suite's lock); the memo keeps
    each expectation alive, so an id is never reused within a run by the ones GE makes on the way.
    Results are identical (a test compares GE's whole result, failing rows included); measured on the
    ratio bench's biggest zone batch (42.8 k readings): 115 → 92 ms of CPU per validation."""
    memo = getattr(_validating, "configurations", None)
    if memo is None:
        return _GE_CONFIGURATION.fget(self)
    hit = memo.get(id(self))
    if hit is None:
        hit = memo[id(self)] = (self, _GE_CONFIGURATION.fget(self))
    return hit[1]


if isinstance(_GE_CONFIGURATION, property):   # a GE that no longer has the property simply runs as it is
    Expectation.configuration = property(_configuration, doc=_GE_CONFIGURATION.__doc__)


#: The text columns the row expectations read, given to GE (and to the masks' factorisations) as
#: categoricals by :func:`_coded`.
CODED_COLUMNS = ["point", "parameter", "statistic", "period", "flag"]


def _coded(frame: pd.DataFrame, params: pd.Index, param_codes: np.ndarray) -> pd.DataFrame:
    """``frame[ROW_COLUMNS]`` with :data:`CODED_COLUMNS` as categoricals (``parameter`` from its
    factorisation ``params``/``param_codes``, already made for the ranges): GE's not-null, regex, set,
    uniqueness and row-condition tests then work on integer codes, each text tested once per distinct
    value instead of once per row. The same values, missing ones included, so the same results (a test
    compares GE's whole result on both); measured on the ratio bench's biggest zone batch (42.8 k
    readings): GE 94 → 68 ms of CPU for 11 ms of conversion."""
    view = frame[ROW_COLUMNS].copy()
    for c in CODED_COLUMNS:
        view[c] = (pd.Categorical.from_codes(param_codes, categories=params) if c == "parameter"
                   else view[c].astype("category"))
    return view


def _ge_results(result) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in result.results:
        name = (r.expectation_config.meta or {})["envmon"]
        res = r.result or {}
        raised = bool(r.exception_info and r.exception_info.get("raised_exception"))
        out[name] = {"success": bool(r.success), "unexpected_count": res.get("unexpected_count"),
                     "observed": res.get("observed_value"), "error": raised}
    return out


def _bool(values: pd.Series | pd.arrays.BooleanArray | np.ndarray) -> np.ndarray:
    """A nullable boolean result as a plain numpy mask (NA → False)."""
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=bool, na_value=False)
    return np.asarray(pd.array(values, dtype="boolean").to_numpy(dtype=bool, na_value=False))


def _whole_batch_failure(df: pd.DataFrame, expectation: str, reason: str, now: datetime, batch: str,
                         ge: dict) -> QualityResult:
    quarantined = df.copy()
    quarantined["expectation"] = pd.array([expectation] * len(df), dtype="string")
    quarantined["reason"] = pd.array([reason] * len(df), dtype="string")
    summary = {"batch": batch, "checked_at": now.isoformat(), "rows_in": len(df), "valid": 0,
               "quarantined": len(df), "quarantined_by_expectation": {expectation: len(df)},
               "failed_rows_by_expectation": {expectation: len(df)}, "unknown_flags": {},
               "ge": ge, "consistent": True, "batch_failure": reason}
    return QualityResult(valid=empty_readings(), quarantined=quarantined, summary=summary)


@dataclass
class _Batch:
    """What the row checks read, computed once per batch (vectorised; string tests once per distinct flag)."""

    frame: pd.DataFrame
    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    limit: datetime
    flag_missing: np.ndarray
    flag_bad_pattern: np.ndarray
    flag_not_in_set: np.ndarray
    is_n: np.ndarray
    identity_missing: dict[str, np.ndarray]
    duplicate_all: np.ndarray      # every row of a repeated identity (GE's count)
    duplicate_later: np.ndarray    # repeats after the first (quarantined; the first is kept)

    @classmethod
    def of(cls, frame: pd.DataFrame, limit: datetime, coded: pd.DataFrame) -> _Batch:
        """``coded``: :func:`_coded` of ``frame``, whose codes the flag and identity factorisations read."""
        value = frame["value"].to_numpy(dtype="float64")
        flag_codes, flag_values = pd.factorize(coded["flag"], use_na_sentinel=True)
        pattern = re.compile(FLAG_PATTERN)
        # each lookup has a trailing entry for code -1 (missing flag)
        bad_pattern = np.append(np.array([not pattern.fullmatch(str(v)) for v in flag_values], dtype=bool),
                                False)
        known = np.append(np.array([str(v) in DATA_FLAGS for v in flag_values], dtype=bool), True)
        is_n = np.append(np.array([str(v) == VALID_FLAG for v in flag_values], dtype=bool), False)
        identity_missing = {c: coded[c].isna().to_numpy() for c in IDENTITY}
        complete = ~np.logical_or.reduce(list(identity_missing.values()))
        key = identity_key(coded)
        later = np.ones(len(key), dtype=bool)
        later[np.unique(key, return_index=True)[1]] = False
        return cls(frame=frame, value=value, lo=frame["_min"].to_numpy(), hi=frame["_max"].to_numpy(),
                   limit=limit, flag_missing=flag_codes < 0, flag_bad_pattern=bad_pattern[flag_codes],
                   flag_not_in_set=~known[flag_codes], is_n=is_n[flag_codes],
                   identity_missing=identity_missing,
                   duplicate_all=complete & (np.bincount(key)[key] > 1), duplicate_later=complete & later)

    def below(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return ~np.isnan(self.value) & ~np.isnan(self.lo) & (self.value < self.lo)

    def above(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return ~np.isnan(self.value) & ~np.isnan(self.hi) & (self.value > self.hi)


@dataclass(frozen=True)
class RowCheck:
    """One row expectation: the GE expectation of record, the pandas mask that mirrors it (its count must
    equal GE's ``unexpected_count``), the rows it quarantines and why.

    ``quarantined`` selects the rows quarantined when they differ from the mask (a repeated identity:
    GE counts every row, the first one is kept); ``counts_only`` marks a check that quarantines nothing
    (unknown but well-formed flags). ``group`` is the name quarantined rows carry (the docstring's table).
    """

    name: str
    group: str
    expectation: Callable[[datetime], Any]
    mask: Callable[[_Batch], np.ndarray]
    reason: Callable[[_Batch, np.ndarray], str | np.ndarray]
    quarantined: Callable[[_Batch], np.ndarray] | None = None
    counts_only: bool = False


def _range_text(b: _Batch, mask: np.ndarray) -> np.ndarray:
    return _range_reason(b.frame, b.value, b.lo, b.hi, mask)


def _identity_check(column: str) -> RowCheck:
    return RowCheck(f"identity_present.{column}", "identity_present",
                    lambda _now: gxe.ExpectColumnValuesToNotBeNull(column=column),
                    lambda b: b.identity_missing[column], lambda _b, _m: f"{column} missing")


#: The row expectations, in the order a row's first failure is named.
ROW_CHECKS: tuple[RowCheck, ...] = (
    *(_identity_check(c) for c in IDENTITY),
    RowCheck("flag_code.present", "flag_code", lambda _now: gxe.ExpectColumnValuesToNotBeNull(column="flag"),
             lambda b: b.flag_missing, lambda _b, _m: "flag missing"),
    RowCheck("flag_code.pattern", "flag_code",
             lambda _now: gxe.ExpectColumnValuesToMatchRegex(column="flag", regex=FLAG_PATTERN),
             lambda b: b.flag_bad_pattern,
             lambda b, m: _reason_values("flag", b.frame["flag"], m, "is not a 1-2 letter HJ 212 flag")),
    RowCheck("flag_known", "flag_known",
             lambda _now: gxe.ExpectColumnValuesToBeInSet(column="flag", value_set=sorted(DATA_FLAGS)),
             lambda b: b.flag_not_in_set, lambda _b, _m: "", counts_only=True),
    RowCheck("value_plausible.min", "value_plausible",
             lambda _now: gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                 column_A="value", column_B="_min", or_equal=True, ignore_row_if="either_value_is_missing"),
             _Batch.below, _range_text),
    RowCheck("value_plausible.max", "value_plausible",
             lambda _now: gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                 column_A="_max", column_B="value", or_equal=True, ignore_row_if="either_value_is_missing"),
             _Batch.above, _range_text),
    RowCheck("time_not_future", "time_not_future",
             lambda now: gxe.ExpectColumnValuesToBeBetween(column="time", max_value=now + FUTURE_TOLERANCE),
             lambda b: _bool(b.frame["time"] > pd.Timestamp(b.limit)),
             lambda b, _m: (f"time after now + {int(FUTURE_TOLERANCE.total_seconds() // 60)} min "
                            f"({b.limit:%Y-%m-%d %H:%M} UTC)")),
    RowCheck("unique_identity", "unique_identity",
             lambda _now: gxe.ExpectCompoundColumnsToBeUnique(column_list=IDENTITY,
                                                             ignore_row_if="any_value_is_missing"),
             lambda b: b.duplicate_all,
             lambda _b, _m: ("duplicate of an earlier row on point, parameter, statistic, period, time "
                             "(first kept)"),
             quarantined=lambda b: b.duplicate_later),
    RowCheck("value_present_if_n", "value_present_if_n",
             lambda _now: gxe.ExpectColumnValuesToNotBeNull(column="value", row_condition='flag=="N"',
                                                            condition_parser="pandas"),
             lambda b: b.is_n & np.isnan(b.value), lambda _b, _m: "value missing (NaN) for flag N"),
)


def validate_batch(df: pd.DataFrame, *, now: datetime | None = None, batch: str) -> QualityResult:
    """Validate one canonical readings batch against :data:`ROW_CHECKS` (module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        A readings batch with the columns of :data:`sensors.schema.READINGS_COLUMNS`.
    now : datetime, optional
        Aware; anchors the future-timestamp check (default: the current UTC time).
    batch : str
        The ingest batch id, named in the summary and in file names.

    Returns
    -------
    QualityResult
        ``valid`` + ``quarantined`` rows (nothing dropped) and the summary with GE's results.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    n = len(df)
    expected_cols = list(READINGS_COLUMNS)

    # 1. schema: exact column set — a whole-batch failure ---------------------------------------------
    missing = [c for c in expected_cols if c not in df.columns]
    extra = [c for c in df.columns if c not in READINGS_COLUMNS]
    if missing or extra:
        ge = _ge_validate(df, {"schema_columns": gxe.ExpectTableColumnsToMatchSet(
            column_set=expected_cols, exact_match=True)})
        reason = "columns differ from schema.READINGS_COLUMNS:" + (
            f" missing {', '.join(missing)}" if missing else "") + (
            f" unexpected {', '.join(map(str, extra))}" if extra else "")
        return _whole_batch_failure(df, "schema_columns", reason, now, batch, ge)
    if n == 0:
        return QualityResult(valid=empty_readings(), quarantined=_empty_quarantine(),
                             summary=_summary(batch, now, 0, 0, {}, {}, {}, {}, True))

    # 2. one GE suite for types and rows, on a copy with the per-parameter range columns _min/_max -----
    #    (one suite = one batch load: GE fingerprints every pandas batch, ~0.7 s per load at 1M rows)
    table = parameter_table()
    frame = df.reset_index(drop=True)
    codes, params = pd.factorize(frame["parameter"], use_na_sentinel=True)   # ranges once per parameter
    for col, bound in (("_min", "min"), ("_max", "max")):
        by_param = {k: getattr(v, bound) for k, v in table.items()}
        # a trailing NaN for code -1 (no parameter); a parameter outside the table has no range either
        frame[col] = np.array([by_param.get(p, np.nan) for p in params] + [np.nan], dtype="float64")[codes]
    types = _dtype_types(frame)
    if types is None:   # some dtype differs: GE's type expectations are the judge (and the record)
        types = _ge_validate(frame, {f"schema_types.{c}": gxe.ExpectColumnValuesToBeOfType(
            column=c, type_=_GE_TYPE[t]) for c, t in READINGS_COLUMNS.items()})
    wrong = [f"{c} is {df[c].dtype} (expected {t})" for c, t in READINGS_COLUMNS.items()
             if not types[f"schema_types.{c}"]["success"]
             or (c == "time" and str(getattr(getattr(df[c], "dt", None), "tz", None)) != "UTC")]
    if wrong:
        return _whole_batch_failure(df, "schema_types", "wrong dtype: " + "; ".join(wrong), now, batch, types)
    suite, clock, lock = _row_suite()
    coded = _coded(frame, params, codes)
    with lock:
        clock.max_value = now + FUTURE_TOLERANCE
        ge = _ge_results(_run_suite(coded, suite))
    columns = {"success": True, "unexpected_count": None, "observed": sorted(frame.columns), "error": False}
    ge = {"schema_columns": columns, **types, **ge}   # the summary's order as before

    # 3. each check's mask, checked against GE's count; quarantine: first failing group names the row ----
    b = _Batch.of(frame, now + FUTURE_TOLERANCE, coded)
    mismatches = []
    first = np.full(len(frame), None, dtype=object)
    reasons = np.full(len(frame), "", dtype=object)
    failed_rows: dict[str, int] = {}
    for check in ROW_CHECKS:
        mask = check.mask(b)
        ge_count = ge[check.name]["unexpected_count"]
        ge[check.name]["mask_count"] = int(mask.sum())
        if ge_count is None or int(ge_count) != int(mask.sum()) or ge[check.name]["error"]:
            mismatches.append(check.name)
        if check.counts_only:
            continue
        rows = mask if check.quarantined is None else check.quarantined(b)
        if not rows.any():
            continue
        failed_rows[check.group] = failed_rows.get(check.group, 0) + int(rows.sum())
        first[rows & pd.isna(first)] = check.group
        reason = check.reason(b, rows)
        text = reason[rows] if isinstance(reason, np.ndarray) else reason
        reasons[rows] = np.where(reasons[rows] == "", text, reasons[rows] + "; " + text)
    if mismatches:
        log.warning("quality %s: GE counts and masks disagree for %s", batch, ", ".join(mismatches))
    bad = pd.notna(first)

    valid = conform(df.iloc[np.flatnonzero(~bad)])
    quarantined = df.iloc[np.flatnonzero(bad)].copy()
    quarantined["expectation"] = pd.array(first[bad], dtype="string")
    quarantined["reason"] = pd.array(reasons[bad], dtype="string")
    by_exp = quarantined["expectation"].value_counts().to_dict()
    unknown = b.flag_not_in_set & ~b.flag_bad_pattern     # well-formed but unknown: passes, counted
    unknown_flags = frame["flag"].iloc[np.flatnonzero(unknown)].value_counts().to_dict()
    summary = _summary(batch, now, n, int(bad.sum()), {str(k): int(v) for k, v in by_exp.items()},
                       failed_rows, {str(k): int(v) for k, v in unknown_flags.items()}, ge, not mismatches)
    if mismatches:
        summary["mismatches"] = mismatches
    return QualityResult(valid=valid, quarantined=quarantined, summary=summary)


def _reason_values(column: str, values: pd.Series, mask: np.ndarray, text: str) -> np.ndarray:
    out = np.full(len(values), "", dtype=object)
    if mask.any():
        out[mask] = [f"{column} {v!r} {text}" for v in values[mask].astype(object)]  # failing rows only
    return out


def _range_reason(frame: pd.DataFrame, value: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  mask: np.ndarray) -> np.ndarray:
    """'value 15.2 outside plausible 0–14 pH for w01001' for the failing rows (vectorised string build)."""
    out = np.full(len(frame), "", dtype=object)
    if mask.any():
        sub = pd.DataFrame({"v": value[mask], "lo": lo[mask], "hi": hi[mask],
                            "p": frame["parameter"].to_numpy(dtype=object)[mask],
                            "u": frame["unit"].to_numpy(dtype=object)[mask]})
        out[mask] = ("value " + sub["v"].map("{:g}".format) + " outside plausible range "
                     + sub["lo"].map("{:g}".format) + "–" + sub["hi"].map("{:g}".format) + " "
                     + sub["u"].astype(str) + " for " + sub["p"].astype(str)).to_numpy()
    return out


def _empty_quarantine() -> pd.DataFrame:
    q = empty_readings()
    q["expectation"] = pd.Series(dtype="string")
    q["reason"] = pd.Series(dtype="string")
    return q


def _summary(batch: str, now: datetime, rows_in: int, quarantined: int, by_exp: dict, failed: dict,
             unknown_flags: dict, ge: dict, consistent: bool) -> dict[str, Any]:
    return {"batch": batch, "checked_at": now.isoformat(), "rows_in": rows_in,
            "valid": rows_in - quarantined, "quarantined": quarantined,
            "quarantined_by_expectation": by_exp, "failed_rows_by_expectation": failed,
            "unknown_flags": unknown_flags, "ge": ge, "consistent": consistent}


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(batch: str) -> str:
    return _SAFE.sub("_", batch).strip("._") or "batch"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_summary(summary: dict[str, Any], directory: str | Path) -> Path:
    """Write the summary as ``<directory>/<batch>.json`` (UTF-8, replaced atomically).

    Parameters
    ----------
    summary : dict
        :attr:`QualityResult.summary`.
    directory : path
        Where quality summaries live: ``Settings.quality_dir`` (``$ENVMON_DATA_DIR/records/quality``).
        The file goes directly into it (no sub-folder is added).
    """
    path = Path(directory) / f"{_safe_name(str(summary.get('batch', 'batch')))}.json"
    _atomic_write(path, lambda fh: json.dump(summary, fh, ensure_ascii=False, indent=2, default=str))
    return path
