"""Equivalent stacks (等效排气筒, GB 16297-1996 §7.2 and 附录A): near stacks of one pollutant judged as one.

Two stacks emitting the same pollutant whose distance is less than the sum of their heights count as one
equivalent stack: its rate ``Q = Q1 + Q2`` (kg/h) is judged against the rate limit at the equivalent
height ``h = √((h1² + h2²)/2)``; it stands on the line from stack 1 to stack 2 at ``x = a·Q2/Q`` from
stack 1 (``a`` their distance). A third (fourth …) stack is compared with the equivalent stack of the
first two, and so on (附录A A1–A3).

How envmon applies it, per hour (the rates change every hour, and with them the equivalent position):

* Candidates: stacks of the **same enterprise** with a registry ``position_m`` ``[x, y]`` (metres, in the
  enterprise's own site-plan frame — positions of two enterprises are never compared) that measure the
  pollutant and have a valid hourly rate.
* In registry order the first stack with a valid rate starts the chain; each following stack joins when
  its distance to the current equivalent stack is less than ``h_eq + h_i``. A stack that does not join
  is judged alone. (Two stacks — the usual case — follow the clause exactly; for three or more the chain
  starts from the first stack in registry order, as 附录A's "前两根 … 依次与第三、四根".)
* The equivalent stack's limit is the air standard's rate table (DB 50/418-2016 其他区域, provisional =
  GB 16297 表2 二级; a per-stack override does not apply to the equivalent stack) at ``h_eq`` with the
  §7.1 halving when any member is not ≥ 5 m above the buildings within 200 m, and the §7.4 halving below
  15 m.
* Reported on the **first member's** ``rate`` row of that hour (value ``Q``, limit at ``h_eq``, the reason
  naming every member, the distance and heights, clause + "§7.2 附录A 等效排气筒"); the other members' rate
  rows of that hour are not emitted — their emission is judged in the equivalent stack, once, so one
  exceedance makes one incident.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from limits.catalogue import rate_from_table

EQUIVALENT_CLAUSE = "§7.2 附录A 等效排气筒"


def equivalent_height(heights: list[float] | np.ndarray) -> float:
    """h = √((h1² + h2²)/2) applied pairwise in order (GB 16297-1996 附录A A2)."""
    h2 = float(heights[0]) ** 2
    for h in heights[1:]:
        h2 = (h2 + float(h) ** 2) / 2
    return math.sqrt(h2)


def _candidates(points: pd.DataFrame) -> pd.DataFrame:
    stacks = points[(points["kind"] == "stack") & points["position_m"].notna()]
    counts = stacks.groupby("enterprise")["point"].transform("size")
    return stacks[counts >= 2]


def combine_equivalent_stacks(g: pd.DataFrame, points: pd.DataFrame, catalogue: Any) -> pd.DataFrame:
    """Apply §7.2 to the ``rate`` rows of ``g`` (the air frame after verdicts: ``point``, ``parameter``,
    ``window_start``, ``value``, ``limit``, ``verdict``, ``reason``, ``clause``, …); returns the frame with
    equivalent-stack rows rewritten and the other members' rows of those hours removed."""
    if catalogue is None or "position_m" not in points or g.empty:
        return g
    cands = _candidates(points)
    if cands.empty:
        return g
    drop: list[Any] = []
    g = g.assign(row_id=g.index)
    rate = g[(g["check"] == "rate") & g["point"].isin(cands["point"])]
    for (enterprise, parameter), rows in rate.groupby([rate["point"].map(cands.set_index("point")["enterprise"]),
                                                       "parameter"], observed=True):
        members = cands[(cands["enterprise"] == enterprise) & cands["point"].isin(rows["point"])]
        if len(members) < 2:
            continue
        drop += _chain(g, rows, members, catalogue)
    return g.drop(index=drop).drop(columns="row_id")


def _chain(g: pd.DataFrame, rows: pd.DataFrame, members: pd.DataFrame, catalogue: Any) -> list[Any]:
    """Combine one enterprise's stacks for one pollutant hour by hour; edits ``g`` in place, returns the
    index labels of member rows to drop."""
    ids = members["point"].tolist()
    judged = rows["verdict"].isin(["compliant", "exceeds"])
    q = rows[judged].pivot_table(index="window_start", columns="point", values="value", aggfunc="first")
    q = q.reindex(columns=ids)
    label = rows.pivot_table(index="window_start", columns="point", values="row_id", aggfunc="first").reindex(
        index=q.index, columns=ids)
    qv = q.to_numpy(dtype=float)
    n_h, n_s = qv.shape
    pos = np.array([list(p) for p in members["position_m"]], dtype=float)
    hgt = members["height_m"].to_numpy(dtype=float)
    eq_q = np.full(n_h, np.nan)
    eq_xy = np.full((n_h, 2), np.nan)
    eq_h2 = np.full(n_h, np.nan)
    dist = np.full((n_h, n_s), np.nan)
    inside = np.zeros((n_h, n_s), dtype=bool)
    for i in range(n_s):
        has = np.isfinite(qv[:, i])
        start = has & ~np.isfinite(eq_q)
        d = np.hypot(*(pos[i] - eq_xy).T)
        join = has & ~start & np.isfinite(eq_q) & (d < np.sqrt(eq_h2) + hgt[i])
        dist[:, i] = np.where(join, d, np.nan)
        new_q = np.where(join, eq_q + np.nan_to_num(qv[:, i]), eq_q)
        share = np.where(join & (new_q > 0), np.nan_to_num(qv[:, i]) / np.where(new_q > 0, new_q, 1.0), 0.5)
        eq_xy = np.where(join[:, None], eq_xy + (pos[i] - eq_xy) * share[:, None], eq_xy)
        eq_h2 = np.where(join, (eq_h2 + hgt[i] ** 2) / 2, eq_h2)
        eq_q = np.where(start, qv[:, i], new_q)
        eq_xy = np.where(start[:, None], pos[i], eq_xy)
        eq_h2 = np.where(start, hgt[i] ** 2, eq_h2)
        inside[:, i] = start | join
    combined = inside.sum(axis=1) >= 2
    drop: list[Any] = []
    above = members["above_buildings"].fillna(True).astype(bool).to_numpy()
    for t in np.flatnonzero(combined):
        who = np.flatnonzero(inside[t])
        first = label.iat[t, who[0]]
        row = g.loc[first]
        entry = catalogue.rate_entry(row["parameter"])
        h_eq = math.sqrt(eq_h2[t])
        limit, rule = rate_from_table(entry.rate_table, h_eq, bool(above[who].all()),
                                      low_stack_factor=catalogue.rate_factor("rate_halved_below_15m"),
                                      building_factor=catalogue.rate_factor("rate_halved_not_above_buildings"))
        parts = " + ".join(f"{ids[i]} {qv[t, i]:.4g} kg/h ({hgt[i]:g} m)" for i in who)
        gaps = ", ".join(f"{ids[i]} {dist[t, i]:.1f} m" for i in who[1:])
        over = eq_q[t] > limit
        g.loc[first, ["value", "limit", "verdict"]] = [eq_q[t], limit, "exceeds" if over else "compliant"]
        g.loc[first, "ratio"] = eq_q[t] / limit
        g.loc[first, "clause"] = f"{row['clause']}; {EQUIVALENT_CLAUSE}"
        g.loc[first, "reason"] = (("equivalent emission rate above the limit; " if over else "")
                                  + f"equivalent stack (GB 16297-1996 {EQUIVALENT_CLAUSE}): {parts}; distance to "
                                  f"the equivalent stack {gaps} < sum of heights; Q = {eq_q[t]:.4g} kg/h against "
                                  f"the rate at h = {h_eq:.1f} m: {rule}")
        drop += [label.iat[t, i] for i in who[1:]]
    return drop
