"""monitoring.charts: SVG strings that are valid XML, keep Chinese text as text, mark what the data says."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from monitoring import charts

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> str:
    root = ET.fromstring(svg)
    return " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def test_daily_band_is_svg_with_chinese_text_and_marks_days_over_the_limit():
    days = pd.date_range("2026-10-01", periods=5, freq="D")
    means = [10.0, 12.0, np.nan, 130.0, 11.0]
    svg = charts.daily_band(days, means, limit=120.0, unit="mg/m³", title="颗粒物 日均值")
    assert svg.startswith("<svg")
    text = _texts(svg)
    assert "颗粒物 日均值" in text and "日均值" in text and "限值 120" in text
    assert "超标日" in text                          # the 130 day is over 120
    within = charts.daily_band(days, [10.0, 12.0, np.nan, 110.0, 11.0], limit=120.0)
    assert "超标日" not in _texts(within)


def test_chart_output_is_deterministic():
    days = pd.date_range("2026-10-01", periods=3, freq="D")
    a = charts.daily_band(days, [1.0, 2.0, 3.0], limit=2.5)
    b = charts.daily_band(days, [1.0, 2.0, 3.0], limit=2.5)
    assert a == b


def test_no_valid_data_gives_a_placeholder_that_says_so():
    days = pd.date_range("2026-10-01", periods=3, freq="D")
    svg = charts.daily_band(days, [np.nan] * 3, limit=2.5, title="pH")
    assert "无数据" in _texts(svg)
    assert "无数据" in _texts(charts.status_strip(pd.DataFrame()))


def test_capture_heatmap_and_status_strip_legends():
    m = np.zeros((30, 24), dtype=int)
    m[:, 8:18] = 1
    m[3, :] = 2
    svg = charts.capture_heatmap(m, pd.date_range("2026-11-01", periods=30, freq="D"), title="采集")
    text = _texts(svg)
    assert "有效(N)" in text and "缺失" in text and "标记(非N)" in text
    strip = pd.DataFrame({"2026-10": ["compliant", "exceeds"], "2026-11": ["no_data", "compliant"]},
                         index=["江星木业", "某化工"])
    text = _texts(charts.status_strip(strip, title="近12个月"))
    assert "江星木业" in text and "2026-11" in text and "超标" in text and "无数据" in text


def test_cumulative_mass_accumulates():
    days = pd.date_range("2026-11-01", periods=3, freq="D")
    svg = charts.cumulative_mass(days, {"颗粒物": [1.0, 2.0, 3.0]}, permitted={"颗粒物": 10.0})
    assert "颗粒物" in _texts(svg)
