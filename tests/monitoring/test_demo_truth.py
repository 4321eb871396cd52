"""The demo compares incidents with what the simulator injected: only episodes whose window has closed."""

from __future__ import annotations

import pandas as pd

from monitoring.demo import judged_episodes


def test_a_day_window_episode_counts_once_its_local_day_is_over():
    t = lambda s: pd.Timestamp(s, tz="Asia/Shanghai").tz_convert("UTC")
    eps = pd.DataFrame({
        "point": ["S", "W", "A", "W2"],
        "kind": ["stack", "wastewater", "ambient_air", "wastewater"],
        "parameter": ["a34013", "w01018", "a34004", "w01018"],
        "start": [t("2026-11-28 09:00"), t("2026-11-27 00:00"), t("2026-11-28 06:00"), t("2026-11-28 00:00")],
        "end": [t("2026-11-28 12:00"), t("2026-11-28 00:00"), t("2026-11-28 14:00"), t("2026-11-29 00:00")]})
    end = t("2026-11-28 18:00")
    kept = judged_episodes(eps, t("2026-11-21 18:00"), end)
    # the stack's hours are over; yesterday's water day is over; today's ambient and water days are not
    assert kept["point"].tolist() == ["S", "W"]
    assert judged_episodes(eps, t("2026-11-21 18:00"), t("2026-11-29 00:00"))["point"].tolist() == ["S", "W", "A", "W2"]


def test_a_ph_episode_counts_from_its_first_sample_even_on_a_running_day():
    """pH is judged on every valid sample (a range, GB 8978-1996), not on a daily mean: an injected pH
    episode of today opens its incident within the hour, and must count as injected then (the demo at
    01:05 local time called such an incident "not injected as an episode")."""
    t = lambda s: pd.Timestamp(s, tz="Asia/Shanghai").tz_convert("UTC")
    eps = pd.DataFrame({"point": ["PH", "COD"], "kind": ["wastewater", "wastewater"],
                        "parameter": ["w01001", "w01018"],
                        "start": [t("2026-11-29 00:00"), t("2026-11-29 00:00")],
                        "end": [t("2026-11-30 00:00"), t("2026-11-30 00:00")]})
    assert judged_episodes(eps, t("2026-11-22 01:05"), t("2026-11-29 01:05"))["point"].tolist() == ["PH"]
    assert judged_episodes(eps, t("2026-11-22 01:05"), t("2026-11-28 23:00")).empty   # not begun yet
    assert judged_episodes(eps, t("2026-11-23 00:00"), t("2026-11-30 00:00"))["point"].tolist() == ["PH", "COD"]
