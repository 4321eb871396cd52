"""Compliance evaluation: readings and ledgers in, assessments (every evaluated window) out.

Pure core (no server): :func:`evaluate_readings`, :func:`evaluate_chunks`, :func:`evaluate_aggregates`,
:func:`evaluate_ledger`, :func:`assess_noise`. Store-backed: :func:`evaluate_period`.

Documented rules (details in each module):

* Validity: flag ``N`` counts, and ``T`` (above the analyser's range) counts at its reported value (the true
  value is at least that); F/M/S/D/C/B, unknown flags and silence are capture gaps with their reason, never
  exceedances. An hourly mean needs ≥ 75 % of the expected values (``min_capture``), else ``invalid``; no
  valid value → ``no_data``. A water daily mean needs ≥ 2 valid values and, online, ≥ 75 % of the day's
  expected values, else ``invalid`` ("insufficient data", GB 8978-1996 5.2.1). Noise is judged per clock
  hour (GB 12348-2008 §5.5) with the day/night Leq beside it (``period_value``).
* Non-detects (lab, qualifier ``<``, value = detection limit): half the detection limit in means; an
  all-non-detect window is compliant when the detection limit ≤ the limit, else ``invalid``.
* Local days: water daily means and noise day/night periods follow Asia/Shanghai days; the frame's
  windows are UTC. Air windows are UTC hours (= local hours, UTC+8 has no half-hour offset).
* Noise background: readings with parameter ``Leq`` and statistic ``bg`` at the point in the same
  local period, applied with GB 12348-2008 §5.9 (raw difference first); without one the Leq is judged
  uncorrected (the reason says so).
* Stack emission rate: hourly mean concentration × hourly mean flow (a00000, m³/s) × 3600/10⁶ kg/h,
  both at standard state dry gas as reported by CEMS (the GB 16297 basis).
"""

from monitoring.compliance.capture import CAPTURE_COLUMNS, capture_by, capture_pct
from monitoring.compliance.evaluate import (
    Evaluation,
    evaluate_aggregates,
    evaluate_chunks,
    evaluate_period,
    evaluate_readings,
)
from monitoring.compliance.hazardous_waste import DECLARATION_COLUMNS, evaluate_ledger
from monitoring.compliance.noise import assess_noise, background_correction, energy_mean

__all__ = ["CAPTURE_COLUMNS", "DECLARATION_COLUMNS", "Evaluation", "assess_noise", "background_correction",
           "capture_by", "capture_pct",
           "energy_mean", "evaluate_aggregates", "evaluate_chunks", "evaluate_ledger", "evaluate_period",
           "evaluate_readings"]
