"""The demo compares incidents with what the simulator injected: only episodes whose window has closed."""

from __future__ import annotations

import pandas as pd

from monitoring.demo import judged_episodes


def test_a_day_window_episode_counts_once_its_local_day_is_over():
    t = lambda s: pd.Timestamp(s, tz="Asia/Shanghai").tz_convert("UTC")
    eps = pd.DataFrame({
        "point": ["S", "W", "A", "W2"],
        "kind": ["stack", "wastewater", "ambient_air", "wastewater"],
        "start": [t("2026-11-28 09:00"), t("2026-11-27 00:00"), t("2026-11-28 06:00"), t("2026-11-28 00:00")],
        "end": [t("2026-11-28 12:00"), t("2026-11-28 00:00"), t("2026-11-28 14:00"), t("2026-11-29 00:00")]})
    end = t("2026-11-28 18:00")
    kept = judged_episodes(eps, t("2026-11-21 18:00"), end)
    # the stack's hours are over; yesterday's water day is over; today's ambient and water days are not
    assert kept["point"].tolist() == ["S", "W"]
    assert judged_episodes(eps, t("2026-11-21 18:00"), t("2026-11-29 00:00"))["point"].tolist() == ["S", "W", "A", "W2"]
