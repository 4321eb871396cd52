"""Seeded, vectorised data simulator: online readings, HJ 212 packets, lab results and HW ledgers.

Everything is a pure function of ``(seed, registry, period)``. Values of one point on one local day come
from random streams keyed by ``(seed, point id, day)``, so a point's data do not depend on which other
points, zones or days were simulated with it: simulating January and February separately gives the same
readings as simulating both at once.

Online readings (:func:`simulate_readings`)
    One value per point × parameter × reporting time (the point's ``interval_s``), statistic ``avg``,
    period ``1min`` (HJ 212 CN 2051 minute data; a point reporting every 300 s sends its minute average
    every 300 s). ``min``/``max`` are not generated: avg only keeps a month of the county registry near
    25 M values. Frames are yielded one local day at a time (all selected points), so memory stays bounded.

    Behaviour (parameters in ``sim_profiles.yaml``): production hours 08–18 local on working days
    (chinese_calendar), reduced on non-working Saturdays, low on Sundays/holidays and at night; slow
    drift (hourly random knots) and white noise; boundary noise day Leq ≈ limit − 2…8 dB(A), night
    ≈ limit − 3…8; seasonal water temperature (below 12 °C in winter) with effluent NH3-N rising in the
    cold; sewage-plant flow with a morning and evening peak; ozone peaking in the afternoon.

    Outside injected episodes and flagged windows every value stays below ``cap`` (0.8) × its nominal
    limit, and every stack's hourly emission rate (concentration × flue-gas flow, kg/h) below ``cap`` ×
    its height-based rate limit (GB 16297-1996 §7 via :mod:`limits`), so every exceedance downstream is
    one the ground truth records.

Events (ground truth, :class:`SimulationTruth`)
    * exceedance episodes: stack / fugitive / in-site VOCs 1–4 whole local clock hours in production
      time at 1.3–2.5 × the 1-hour limit (GB 16297-1996 Table 2, GB 37822-2019 App. A); boundary noise
      1–3 night hours at night limit + 8…13 dB(A) (high enough that the whole-night Leq exceeds too);
      water a whole local day at 1.2–1.8 × the daily-mean limit, or pH 9.6–10.4;
    * flagged windows: calibration ``C`` once a day (5–12 min, 01–05 local; span-gas values above the
      limit, pH buffer 9.18 / 4.00, acoustic calibrator 94 dB), maintenance ``M`` once a week (60 min;
      zeros or 3 × limit), instrument fault ``D`` (15–180 min, one parameter stuck at 0 or 4 × limit).
      Flagged values are deliberately "exceeding": flagged data must never raise an incident;
    * outages: 2–12 h of silence (no rows at all).
    An episode never overlaps an outage; air and noise episodes never overlap M/D windows either.

Modules: :mod:`~sensors.simulator.seeding` (profiles, calendar, random streams),
:mod:`~sensors.simulator.model` (per-point model), :mod:`~sensors.simulator.events` (what is injected),
:mod:`~sensors.simulator.truth` (the ground truth), :mod:`~sensors.simulator.readings` (online readings),
:mod:`~sensors.simulator.packets` (HJ 212 packets), :mod:`~sensors.simulator.devices` (TCP devices),
:mod:`~sensors.simulator.lab` and :mod:`~sensors.simulator.ledger` (files).
"""

from sensors.simulator.devices import SendReport, send_packets
from sensors.simulator.lab import LAB_FILE_COLUMNS, LAB_PARAMETERS, simulate_lab, write_lab_csv
from sensors.simulator.ledger import (
    LEDGER_FILE_COLUMNS,
    PROBLEMS,
    RECEIVERS,
    UNLICENSED_RECEIVER,
    WASTE_CODES,
    simulate_ledger,
    simulate_ledger_truth,
    write_ledger_csv,
)
from sensors.simulator.packets import (
    CN_BY_PERIOD,
    FIELD_BY_STATISTIC,
    ST_BY_KIND,
    device_version,
    hourly_from_minutes,
    to_packets,
    write_packets,
)
from sensors.simulator.readings import readings_frame, simulate_readings
from sensors.simulator.seeding import PROFILES_PATH, canonical_units, day_level, load_profiles
from sensors.simulator.truth import SimulationTruth, simulation_truth

__all__ = [
    "CN_BY_PERIOD", "FIELD_BY_STATISTIC", "LAB_FILE_COLUMNS", "LAB_PARAMETERS", "LEDGER_FILE_COLUMNS",
    "PROBLEMS", "PROFILES_PATH", "RECEIVERS", "ST_BY_KIND", "UNLICENSED_RECEIVER", "WASTE_CODES",
    "SendReport", "SimulationTruth", "canonical_units", "day_level", "device_version", "hourly_from_minutes",
    "load_profiles", "readings_frame", "send_packets", "simulate_lab", "simulate_ledger",
    "simulate_ledger_truth", "simulate_readings", "simulation_truth", "to_packets", "write_lab_csv",
    "write_ledger_csv", "write_packets",
]
