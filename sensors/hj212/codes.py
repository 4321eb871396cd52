"""Code tables of HJ 212: systems (ST), commands (CN), data flags, pollutant codes and their units.

Sources: HJ 212-2017 §6.6 (command codes, Table 5/Appendix B), Appendix B (pollutant codes), HJ/T
212-2005 Appendix B (the old codes mapped in :data:`CODES_2005_TO_2017`). Unknown ST/CN/flag values
are never errors: the decoder keeps them verbatim; these tables only give names and units.
"""

from __future__ import annotations

from sensors.hj212.local_codes import LOCAL_UNITS

#: System codes ``ST`` (HJ 212-2017 Table 5 / HJ 212-2025).
SYSTEMS: dict[str, str] = {
    "21": "surface water quality", "22": "ambient air quality", "23": "acoustic environment",
    "24": "groundwater quality", "25": "soil quality", "27": "VOCs", "31": "air pollution source",
    "32": "surface-water pollution source", "33": "groundwater pollution source",
    "35": "soil pollution source", "36": "noise source", "39": "construction dust",
    "51": "flue-gas process", "52": "wastewater process", "91": "system interaction",
}

#: Command codes ``CN`` (HJ 212-2017 §6.6, Appendix B.7).
COMMANDS: dict[str, str] = {
    "1061": "get real-time data interval", "1062": "set real-time data interval",
    "2011": "real-time data", "2021": "equipment running status", "2031": "daily data",
    "2041": "daily equipment running time", "2051": "minute data", "2061": "hourly data",
    "2081": "data-logger restart", "3015": "over-limit sample retention", "3020": "equipment info",
    "9011": "request answer", "9012": "execution result", "9013": "notification answer",
    "9014": "data answer",
}

#: Commands whose CP carries monitoring values; a packet with one of them must carry ``DataTime``.
DATA_COMMANDS = frozenset({"2011", "2051", "2061", "2031"})

#: Answer commands: never answered themselves.
ANSWER_COMMANDS = frozenset({"9011", "9012", "9013", "9014"})

#: Data flags ``-Flag`` (HJ 212-2017 Table 6). Only N counts towards compliance averages.
DATA_FLAGS: dict[str, str] = {
    "N": "normal", "F": "instrument stopped", "M": "maintenance", "S": "manually set value",
    "D": "instrument fault", "C": "calibration", "T": "above measuring range",
    "B": "logger-instrument communication fault",
}
DEFAULT_DATA_FLAG = "N"

#: Protocol version ← ``Flag`` bits V5..V0 (bits 7..2 of Flag).
VERSION_BITS: dict[int, str] = {0: "2005", 1: "2017", 2: "2025"}
BITS_OF_VERSION: dict[str, int] = {v: k for k, v in VERSION_BITS.items()}

#: HJ/T 212-2005 pollutant code → HJ 212-2017 code (HJ 212-2017 Appendix B, "原编码" column).
CODES_2005_TO_2017: dict[str, str] = {
    # water
    "011": "w01018",   # COD
    "060": "w21003",   # NH3-N
    "101": "w21011",   # total phosphorus
    "065": "w21001",   # total nitrogen
    "001": "w01001",   # pH
    "B01": "w00000",   # wastewater flow
    "010": "w01017",   # BOD5
    "003": "w01012",   # suspended solids
    # air source
    "02": "a21026",    # SO2
    "03": "a21002",    # NOx
    "01": "a34013",    # particulate matter
    "04": "a21005",    # CO
    "B02": "a00000",   # flue-gas flow
    "S01": "a19001",   # O2
    "S02": "a01011",   # flue-gas velocity
    "S03": "a01012",   # flue-gas temperature
    "S08": "a01013",   # flue-gas pressure
    "S05": "a01014",   # flue-gas humidity
}
CODES_2017_TO_2005: dict[str, str] = {v: k for k, v in CODES_2005_TO_2017.items()}

#: Pollutant field (the part after ``-`` in a CP key) → canonical ``statistic``. Fields not listed
#: here (``Flag``, ``EFlag``, ``SampleTime``, ``Info`` …) describe a value but are not values.
VALUE_FIELDS: dict[str, str] = {
    "Rtd": "rtd", "Min": "min", "Avg": "avg", "Max": "max", "Cou": "cou",
    "ZsRtd": "zsrtd", "ZsMin": "zsmin", "ZsAvg": "zsavg", "ZsMax": "zsmax",
    "Data": "data", "DayData": "daydata", "NightData": "nightdata",
}

_AIR_MG_M3 = ("a21026", "a21002", "a21003", "a21004", "a34013", "a24088", "a21005", "a25002",
              "a25003", "a25005", "a34002", "a34004", "a05024", "a24087", "a21001", "a21024",
              "a99051")
_WATER_MG_L = ("w01018", "w21003", "w21011", "w21001", "w01017", "w01012", "w01009", "w01019",
               "w21016", "w22001", "w20111", "w20115", "w20116", "w20117", "w20119", "w20120",
               "w20122", "w20124", "w20125", "w20138", "w20141", "w21019", "w21017")
NOISE_CODES = ("LA", "L5", "L10", "L50", "L90", "L95", "Leq", "Ldn", "Ld", "Ln", "LMx", "LMn",
               "LAeq")

#: Canonical unit of each pollutant code's concentration/instant value (HJ 212-2017 Appendix B).
UNITS: dict[str, str] = {
    **{c: "mg/m3" for c in _AIR_MG_M3},
    **{c: "mg/L" for c in _WATER_MG_L},
    **{c: "dB(A)" for c in NOISE_CODES},
    "a00000": "m3/s",     # flue-gas flow
    "a19001": "%",        # O2 (volume fraction)
    "a01011": "m/s",      # flue-gas velocity
    "a01012": "degC",     # flue-gas temperature
    "a01013": "kPa",      # flue-gas pressure
    "a01014": "%",        # flue-gas humidity
    "a01001": "degC",     # ambient temperature
    "a01002": "%",        # relative humidity
    "a01006": "kPa",      # atmospheric pressure
    "a01007": "m/s",      # wind speed
    "a01008": "deg",      # wind direction
    "w00000": "L/s",      # wastewater flow
    "w01001": "pH",       # pH (dimensionless)
    "w01010": "degC",     # water temperature
    "w01014": "uS/cm",    # conductivity
    **LOCAL_UNITS,        # local codes of the safety sensors (sensors/hj212/local_codes.py)
}

#: Unit of ``-Cou`` (cumulative amount over the period): discharged mass of a pollutant, volume of a flow.
COU_UNITS: dict[str, str] = {
    **{c: "kg" for c in _AIR_MG_M3},
    **{c: "kg" for c in _WATER_MG_L},
    "a00000": "m3",
    "w00000": "m3",
}


def unit_for(code: str, statistic: str) -> str | None:
    """Canonical unit of ``statistic`` of pollutant ``code`` (2017 code); ``None`` if unknown."""
    if statistic == "cou":
        return COU_UNITS.get(code)
    return UNITS.get(code)


def flag_for(version: str, *, ack: bool = False, split: bool = False) -> int:
    """The packet ``Flag`` value: version bits V5..V0, then D (split), then A (answer wanted)."""
    return (BITS_OF_VERSION[version] << 2) | (2 if split else 0) | (1 if ack else 0)
