"""The packaged county registry (facts from 云阳府办发〔2021〕75号) and ``envmon registry show``."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.registry import Registry
from monitoring.units import parameter_table

MONTH_S = 30 * 86400

PLAN = {  # id: (name, town, area 亩, elevation m) — plan §2.2
    "jiangkou": ("江口", "江口镇", 2197.5, (185, 205)),
    "nanxi": ("南溪", "南溪镇", 2343, (197, 456)),
    "fengming": ("凤鸣", "凤鸣镇", 1310, (572, 624)),
    "gaoyang": ("高阳", "高阳镇", 1533, (185, 248)),
    "ping_an": ("平安", "平安镇", 1049.9, (305, 400)),
}
NAMED = {"唐三哥酒业", "江星木业", "聚财管道", "明轩装饰", "聚美欣家具", "今朝醉酒厂", "国顺金属制品厂",
         "千丝来食品有限公司", "韩博禽畜养殖场"}


def test_zones_match_the_plan(registry: Registry) -> None:
    assert set(registry.zones) == set(PLAN)
    for zid, (name, town, area, elev) in PLAN.items():
        z = registry.zone(zid)
        assert (z.name_zh, z.town, z.area_mu, tuple(z.elevation_m)) == (name, town, area, elev)
        assert "75号" in z.source and "§" in z.source
    assert registry.zone("nanxi").sewage_plant == "长洪社区污水处理厂"
    assert sum(z.area_mu for z in registry.zones.values()) == pytest.approx(8433.4, abs=0.1)  # plan: 8433.35


def test_named_enterprises_are_real_the_rest_simulated(registry: Registry) -> None:
    real = {e.name for e in registry.enterprises.values() if not e.example}
    assert real == NAMED
    per_zone = Counter(e.zone for e in registry.enterprises.values())
    assert all(15 <= n <= 25 for n in per_zone.values()), per_zone
    for zid in per_zone:
        cats = Counter(e.category for e in registry.enterprises_of(zid))
        assert 1 <= cats["special"] <= 2 and cats["key"] >= 1 and cats["ordinary"] > cats["key"]


def test_online_points_have_unique_hj212_identities(registry: Registry) -> None:
    every = registry.points_of(online=True)
    assert len({p.mn for p in every}) == len(every)              # safety sensors included
    # environmental points; the safety sensors (issue #14, every 10 s) are counted on their own
    online = [p for p in every if p.kind != "safety"]
    safety = registry.points_of(kind="safety")
    assert 20 <= len(safety) <= 30 and {p.sensor for p in safety} == {
        "combustible_gas", "toxic_gas", "oxygen", "ammonia", "dust_collector"}
    assert 120 <= len(online) <= 160
    mns = [p.mn for p in online]
    assert len(set(mns)) == len(mns)
    assert all(len(m) == 24 and m.startswith("500235") for m in mns)
    assert all(re.fullmatch(r"\d{6}", p.pw) for p in online)
    assert registry.by_mn[online[0].mn] is online[0]
    values = sum(len(p.parameters) * MONTH_S // p.interval_s for p in online)
    assert 20e6 <= values <= 30e6
    assert 3 <= sum(len(p.parameters) for p in online) / len(online) <= 6


def test_parameters_are_known_codes(registry: Registry) -> None:
    table = parameter_table()
    for p in registry:
        if p.kind == "hw_store":
            assert all(re.fullmatch(r"HW\d{2}", c) for c in p.parameters), p.id
        else:
            assert set(p.parameters) <= set(table), (p.id, set(p.parameters) - set(table))


def test_points_follow_what_each_industry_emits(registry: Registry) -> None:
    for e in registry.enterprises.values():
        kinds = {p.kind: p for p in registry.points_of(enterprise=e.code)}
        if "涂装" in e.industry:
            stacks = registry.points_of(enterprise=e.code, kind="stack")
            assert any({"a24088", "a25002", "a25003", "a25005"} <= set(s.parameters) for s in stacks), e.code
            assert "HW12" in kinds["hw_store"].parameters
        if any(w in e.industry for w in ("酒", "缫丝", "养殖", "酸洗")):
            ww = kinds["wastewater"]
            assert {"w01018", "w21003", "w01001", "w00000"} <= set(ww.parameters)
    for p in registry.points_of(kind="stack"):
        assert "a21026" not in p.parameters or "a19001" in p.parameters  # combustion → O2 for correction
    for z in registry.zones:
        kinds = Counter(p.kind for p in registry.points_of(zone=z, enterprise=None) if p.enterprise is None)
        # plus the sewage plant's confined-space gas detectors (H2S/CO and O2, issue #14)
        assert kinds == {"plant_effluent": 1, "groundwater": 1, "ambient_air": 1, "safety": 2}
        plant = registry.points_of(zone=z, kind="plant_effluent")[0]
        assert plant.standard == "GB 18918-2002" and plant.grade in ("1A", "1B")
        assert not registry.points_of(zone=z, kind="groundwater")[0].online


def test_limit_relevant_attributes_vary(registry: Registry) -> None:
    stacks = registry.points_of(kind="stack")
    heights = Counter(s.height_m for s in stacks)
    assert {15, 20, 25, 30} <= set(heights) and any(h < 15 for h in heights)
    assert 2 <= sum(not s.above_buildings for s in stacks)
    standards = Counter((w.standard, w.grade) for w in registry.points_of(kind="wastewater"))
    assert standards[("GB 8978-1996", "3")] > standards[("GB/T 31962-2015", "B")] >= 2
    stores = registry.points_of(kind="hw_store")
    assert all(s.capacity_t <= 3 for s in stores if s.temporary) and any(s.temporary for s in stores)
    noise = registry.points_of(kind="noise")
    assert {n.noise_type for n in noise} == {"frequent", "sporadic"} and {n.zone_class for n in noise} == {2}


# ---- CLI ---------------------------------------------------------------------------------------------
runner = CliRunner()


def test_show_zone_by_chinese_name_and_kind() -> None:
    res = runner.invoke(app, ["registry", "show", "--zone", "江口", "--kind", "stack"], env={"COLUMNS": "220"})
    assert res.exit_code == 0, res.output
    assert "JK-005-DA001" in res.output and "500235013100501EM0000012" in res.output
    assert "NX-" not in res.output  # other zones filtered out
    assert "not ≥5 m above buildings" in res.output


def test_show_json_by_pinyin() -> None:
    res = runner.invoke(app, ["registry", "show", "--zone", "Ping'an", "--kind", "noise", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [z["id"] for z in data["zones"]] == ["ping_an"]
    assert data["points"] and all(p["kind"] == "noise" and p["zone"] == "ping_an" for p in data["points"])


def test_unknown_zone_exits_2() -> None:
    res = runner.invoke(app, ["registry", "show", "--zone", "atlantis"])
    assert res.exit_code == 2 and "unknown zone" in res.output


def test_malformed_registry_names_file_entry_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad_registry.yaml"
    good = (Path(__file__).resolve().parents[2] / "monitoring" / "data" / "registry.yaml").read_text("utf-8")
    bad.write_text(good.replace("    height_m: 30\n", "    height_m: -30\n", 1), encoding="utf-8")
    res = runner.invoke(app, ["registry", "show"], env={"ENVMON_REGISTRY": str(bad), "COLUMNS": "200"})
    assert res.exit_code == 2
    assert "bad_registry.yaml: points[" in res.output and "height_m" in res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)  # typer.Exit, not a crash


def test_registry_satisfies_the_sensors_protocol(registry: Registry) -> None:
    """sensors/ types its site look-ups with a Protocol; the monitoring registry must satisfy it."""
    from sensors.site import SiteRegistry

    assert isinstance(registry, SiteRegistry)
    point = registry.points_of(kind="noise", online=True)[0]
    for attr in ("id", "zone", "enterprise", "kind", "online", "mn", "pw", "interval_s", "parameters"):
        assert hasattr(point, attr), attr
