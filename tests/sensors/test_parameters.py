"""The parameter table (sensors/data/parameters.yaml): one row per parameter, validated, with look-ups."""

from __future__ import annotations

import pytest

from sensors.parameters import (
    ParameterTableError,
    load_parameter_table,
    parameter,
    parameter_name_zh,
    parse_parameter_table,
)


def test_rows_carry_name_unit_range_molar_mass_and_aggregation() -> None:
    so2 = parameter("a21026")
    assert (so2.name_zh, so2.unit, so2.min, so2.molar_mass) == ("二氧化硫", "mg/m3", 0.0, 64.066)
    assert so2.aggregation == "arithmetic"
    # GB 12348-2008: Leq combines by energy, Lmax by maximum; wind direction is a vector mean
    assert parameter("Leq").aggregation == "energy" and parameter("Leq").is_level
    assert parameter("LMx").aggregation == "max"
    assert parameter("a01008").aggregation == "vector"


def test_one_name_per_code() -> None:
    # a00000 was 烟气流量 in ranges.yaml and 废气流量 in notifications.py; now there is one row
    assert parameter_name_zh("a00000") == "烟气流量"
    assert parameter_name_zh("hw_storage_days") == "危险废物贮存期限"     # named check, not a reading
    assert parameter_name_zh("x99999") == "x99999"                         # unknown: the code itself


def test_level_parameters_are_the_energy_rows() -> None:
    levels = load_parameter_table().with_aggregation("energy")
    assert {"Leq", "Ld", "Ln", "L10", "L90"} <= set(levels)
    assert "LMx" not in levels and "a21026" not in levels


def test_lab_spellings_map_to_codes() -> None:
    names = load_parameter_table().by_name()
    assert names["化学需氧量"] == names["codcr"] == names["w01018"] == "w01018"
    assert names["氨氮(nh3-n)"] == "w21003"


def test_unknown_code_names_the_file() -> None:
    with pytest.raises(KeyError, match="x1.*parameters.yaml"):
        parameter("x1")


@pytest.mark.parametrize("raw, message", [
    ({"parameters": {"a1": {"name_zh": "甲", "name_en": "A", "unit": "mg/L", "min": 5, "max": 1}}},
     "parameters.a1: .*min 5 > max 1"),
    ({"parameters": {"a1": {"name_zh": "甲", "name_en": "A", "unit": "mg/L", "min": 0, "max": 1,
                            "aggregation": "median"}}}, "parameters.a1: aggregation"),
    ({"parameters": {"a1": {"name_zh": "甲", "unit": "mg/L", "min": 0, "max": 1}}}, "parameters.a1: name_en"),
    ({"rows": {}}, "top level must have a 'parameters' mapping"),
])
def test_malformed_rows_are_named(raw: dict, message: str) -> None:
    with pytest.raises(ParameterTableError, match=message):
        parse_parameter_table(raw, "t.yaml")
