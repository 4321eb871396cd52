"""Batch quality gate (Great Expectations): each expectation quarantines its rows, nothing is lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.quality import validate_batch, write_summary
from sensors.schema import READINGS_COLUMNS, conform

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def good_batch(n: int = 120) -> pd.DataFrame:
    """Plausible minute data for two points, all flag N, times in the past hour."""
    params = ["a21026", "Leq", "w01001"]
    units = {"a21026": "mg/m3", "Leq": "dB(A)", "w01001": "pH"}
    values = {"a21026": 35.0, "Leq": 56.0, "w01001": 7.1}
    p = [params[i % 3] for i in range(n)]
    return conform(pd.DataFrame({
        "time": [NOW - timedelta(minutes=60) + timedelta(minutes=i // 3) for i in range(n)],
        "zone": "jiangkou", "enterprise": "JK-011", "point": "JK-011-DA001", "kind": "stack",
        "parameter": p, "statistic": "avg", "period": "1min", "value": [values[x] for x in p],
        "unit": [units[x] for x in p], "flag": "N", "qualifier": pd.NA, "source": "sim", "batch": "q1",
    }))


def test_clean_batch_passes_whole() -> None:
    df = good_batch()
    res = validate_batch(df, now=NOW, batch="q1")
    assert len(res.valid) == len(df) and res.quarantined.empty
    assert res.summary["consistent"] and res.summary["quarantined"] == 0
    assert list(res.valid.columns) == list(READINGS_COLUMNS)
    assert all(str(res.valid[c].dtype) == t for c, t in READINGS_COLUMNS.items())


def test_each_expectation_catches_its_rows() -> None:
    df = good_batch()
    df.loc[2, "value"] = 15.0                                  # w01001 pH 15: outside 0–14
    df.loc[3, "value"] = -0.5                                  # a21026 negative concentration
    df.loc[4, "value"] = 141.0                                 # Leq above 140 dB(A)
    df.loc[5, "time"] = pd.Timestamp(NOW + timedelta(minutes=6))    # future beyond tolerance
    df.loc[6, "time"] = pd.Timestamp(NOW + timedelta(minutes=4))    # within the 5-min tolerance: valid
    df.loc[7, "flag"] = "bad!"                                 # not a 1-2 letter code
    df.loc[8, "flag"] = "Q"                                    # unknown but well-formed: passes, counted
    df.loc[9, "value"] = np.nan                                # NaN with flag N
    df.loc[10, "value"] = np.nan
    df.loc[10, "flag"] = "F"                                   # NaN with flag F: fine (a gap with a reason)
    df.loc[11, "point"] = pd.NA                                # identity incomplete
    df.loc[12, "flag"] = pd.NA                                 # flag missing
    dup = df.iloc[[20]].copy()
    dup["value"] = 7.5                                         # later duplicate on IDENTITY (value differs)
    df = pd.concat([df, dup], ignore_index=True)
    df.loc[13, "parameter"] = "x00001"                         # unknown parameter: no range, passes

    res = validate_batch(df, now=NOW, batch="q1")
    q = res.quarantined
    expected = {2: "value_plausible", 3: "value_plausible", 4: "value_plausible", 5: "time_not_future",
                7: "flag_code", 9: "value_present_if_n", 11: "identity_present", 12: "flag_code",
                len(df) - 1: "unique_identity"}
    assert dict(zip(q.index, q["expectation"])) == expected
    assert "outside plausible range 0–14 pH for w01001" in q.loc[2, "reason"]
    assert "duplicate" in q.loc[len(df) - 1, "reason"] and q.loc[len(df) - 1, "value"] == 7.5
    assert "point missing" in q.loc[11, "reason"]
    # the first occurrence of the duplicate stays valid, as do rows 0, 6, 8, 10, 13
    valid_values = res.valid["value"].tolist()
    assert len(res.valid) == len(df) - len(expected)
    assert res.valid["flag"].tolist().count("Q") == 1 and res.valid["flag"].isna().sum() == 0
    assert res.valid["parameter"].eq("x00001").sum() == 1
    assert 7.5 not in valid_values

    s = res.summary
    assert s["consistent"], s.get("mismatches")
    assert s["rows_in"] == len(df) and s["valid"] + s["quarantined"] == len(df)
    assert s["quarantined_by_expectation"] == {"value_plausible": 3, "time_not_future": 1, "flag_code": 2,
                                               "value_present_if_n": 1, "identity_present": 1,
                                               "unique_identity": 1}
    assert s["unknown_flags"] == {"Q": 1}
    assert s["ge"]["unique_identity"]["unexpected_count"] == 2      # GE counts both rows of the pair
    assert s["ge"]["value_plausible.max"]["success"] is False


def test_row_failing_two_expectations_lists_both_reasons() -> None:
    df = good_batch()
    df.loc[2, "value"] = 20.0
    df.loc[2, "time"] = pd.Timestamp(NOW + timedelta(hours=1))
    res = validate_batch(df, now=NOW, batch="q1")
    row = res.quarantined.loc[2]
    assert row["expectation"] == "value_plausible"
    assert "outside plausible range" in row["reason"] and "time after now" in row["reason"]
    assert res.summary["failed_rows_by_expectation"] == {"value_plausible": 1, "time_not_future": 1}


def test_missing_column_quarantines_the_whole_batch() -> None:
    df = good_batch().drop(columns=["unit"])
    res = validate_batch(df, now=NOW, batch="q1")
    assert res.valid.empty and len(res.quarantined) == len(df)
    assert set(res.quarantined["expectation"]) == {"schema_columns"}
    assert "missing unit" in res.quarantined["reason"].iloc[0]
    assert res.summary["ge"]["schema_columns"]["success"] is False


def test_wrong_dtype_quarantines_the_whole_batch() -> None:
    df = good_batch()
    df["value"] = df["value"].astype(str)      # numbers as text: a producer bug, not bad readings
    res = validate_batch(df, now=NOW, batch="q1")
    assert res.valid.empty and len(res.quarantined) == len(df)
    assert set(res.quarantined["expectation"]) == {"schema_types"}
    assert "value is" in res.quarantined["reason"].iloc[0]


def test_schema_types_in_the_summary_are_what_ge_reports() -> None:
    """The dtype check (issue #13: no GE expectation per column when every dtype is right) records the
    same ``schema_types`` results as GE's ``expect_column_values_to_be_of_type`` on the same frame."""
    import great_expectations.expectations as gxe

    from monitoring.quality import _GE_TYPE, _ge_validate

    df = good_batch()
    res = validate_batch(df, now=NOW, batch="q1")
    ge = _ge_validate(df, {f"schema_types.{c}": gxe.ExpectColumnValuesToBeOfType(column=c, type_=_GE_TYPE[t])
                           for c, t in READINGS_COLUMNS.items()})
    assert {k: v for k, v in res.summary["ge"].items() if k.startswith("schema_types.")} == ge
    assert list(res.summary["ge"])[:2] == ["schema_columns", "schema_types.time"]


def test_schema_columns_in_the_summary_are_what_ge_reports() -> None:
    """The column check (issue #13: GE is given only the columns its row expectations read) records the
    same ``schema_columns`` result as GE's ``expect_table_columns_to_match_set`` on the whole frame that
    the row checks see (the schema's columns and the ``_min``/``_max`` range columns)."""
    import great_expectations.expectations as gxe

    from monitoring.quality import ROW_CHECKS, ROW_COLUMNS, _ge_validate

    df = good_batch()
    res = validate_batch(df, now=NOW, batch="q1")
    whole = df.assign(_min=0.0, _max=1.0)
    ge = _ge_validate(whole, {"schema_columns": gxe.ExpectTableColumnsToMatchSet(
        column_set=[*READINGS_COLUMNS, "_min", "_max"], exact_match=True)})
    assert res.summary["ge"]["schema_columns"] == ge["schema_columns"]
    assert ge["schema_columns"]["success"] is True
    # every column a row expectation names (column, column_A/B, column_list) is among those GE is given
    named: set[str] = set()
    for check in ROW_CHECKS:
        for key, value in check.expectation(NOW).configuration.kwargs.items():
            if key.startswith("column"):
                named |= set(value) if isinstance(value, list) else {value}
    assert named <= set(ROW_COLUMNS), named - set(ROW_COLUMNS)


def test_ge_results_unchanged_by_the_configuration_memo_and_the_coded_columns() -> None:
    """Issue #13's two GE savings change nothing GE reports: within a run (``_run_suite``) each
    expectation's configuration is built once, and the text columns are given as categoricals
    (``_coded``). GE's whole result — counts, partial lists, observed values, kwargs — is the one GE's own
    validator gives on the plain frame, on a batch where every row check fails somewhere; outside a run
    each read of a configuration is built anew, as in GE."""
    from great_expectations.validator.v1_validator import Validator

    from monitoring.quality import ROW_COLUMNS, _batch_definition, _coded, _row_suite, _run_suite

    df = good_batch(300).assign(_min=0.0, _max=100.0)
    df.loc[::7, "flag"] = "xyz"                  # flag pattern and flag set
    df.loc[::11, "value"] = np.nan               # value missing for flag N
    df.loc[::13, "value"] = 1e6                  # above _max
    df.loc[::17, "point"] = pd.NA                # identity
    df = pd.concat([df, df.iloc[:20]], ignore_index=True)   # repeated identities
    suite, clock, lock = _row_suite()

    def result(run) -> str:
        d = run().to_json_dict()
        d.pop("meta", None)
        return json.dumps(d, sort_keys=True, default=str)

    with lock:
        clock.max_value = NOW + timedelta(minutes=5)
        plain = result(lambda: Validator(batch_definition=_batch_definition(), batch_parameters={
            "dataframe": df[ROW_COLUMNS]}, result_format="BASIC").validate_expectation_suite(suite))
        memoised = result(lambda: _run_suite(df[ROW_COLUMNS], suite))
        codes, params = pd.factorize(df["parameter"], use_na_sentinel=True)
        coded = _coded(df, params, codes)
        assert all(str(coded[c].dtype) == "category" for c in ("point", "parameter", "flag"))
        on_codes = result(lambda: _run_suite(coded, suite))
    assert memoised == plain
    assert on_codes == plain
    counts = [r["result"]["unexpected_count"] for r in json.loads(memoised)["results"]
              if "unexpected_count" in r["result"]]
    assert sum(1 for c in counts if c) >= 5, counts
    clock_before = clock.configuration
    assert clock.configuration is not clock_before          # outside a run: GE's property, a new object


def test_reused_suite_judges_each_batch_by_its_own_now() -> None:
    """The row suite is built once per process; the future-time bound is the one of each call."""
    df = good_batch()                     # times NOW − 60 min … NOW − 21 min
    early = NOW - timedelta(hours=2)      # every reading is then more than 5 min in the future
    for now, future in ((NOW, 0), (early, len(df)), (NOW, 0)):
        res = validate_batch(df, now=now, batch="q1")
        assert res.summary["ge"]["time_not_future"]["unexpected_count"] == future
        assert res.summary["consistent"] and len(res.quarantined) == future


def test_empty_batch() -> None:
    res = validate_batch(good_batch().iloc[0:0], now=NOW, batch="empty")
    assert res.valid.empty and res.quarantined.empty and res.summary["rows_in"] == 0


def test_summary_goes_into_the_given_directory(tmp_path) -> None:
    """Quarantined rows go to the one quarantine writer (sensors.quarantine, via ingest); the summary
    is kept as JSON directly in the directory given (Settings.quality_dir)."""
    df = good_batch()
    df.loc[2, "value"] = 15.0
    df.loc[4, "value"] = 200.0
    res = validate_batch(df, now=NOW, batch="sim/2025-06-01 08:00")
    assert len(res.quarantined) == 2

    summary_path = write_summary(res.summary, tmp_path / "quality")
    assert summary_path.parent == tmp_path / "quality" and "/" not in summary_path.name
    loaded = json.loads(summary_path.read_text(encoding="utf-8"))
    assert loaded["quarantined"] == 2 and loaded["valid"] == len(df) - 2
    assert loaded["batch"] == "sim/2025-06-01 08:00"


@pytest.mark.slow
def test_large_batch_consistent_and_complete() -> None:
    n = 200_000
    rng = np.random.default_rng(3)
    df = pd.concat([good_batch(120)] * (n // 120), ignore_index=True)
    df["time"] = pd.Timestamp(NOW) - pd.to_timedelta(np.arange(len(df)) // 3, unit="s")
    bad = rng.choice(len(df), 500, replace=False)
    df.loc[bad, "value"] = -1.0
    res = validate_batch(df, now=NOW, batch="big")
    assert res.summary["consistent"]
    assert len(res.valid) + len(res.quarantined) == len(df)
    assert set(res.quarantined.index) == set(bad)


def test_importing_the_gate_does_not_flood_task_logs() -> None:
    """GE logs ~200 INFO lines from its docs registry on import; every Airflow task log would carry them."""
    import subprocess
    import sys

    code = ("import logging; logging.basicConfig(level=logging.INFO); import monitoring.quality")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert "Skipping registering function" not in out.stderr + out.stdout
