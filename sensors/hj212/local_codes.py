"""Local HJ 212 pollutant codes: what the county's safety sensors send that HJ 212-2017 Appendix B lacks.

HJ 212-2017 codes are a letter and five digits (``a21026``, ``w01018``). Appendix B has no code for
workplace safety quantities (combustible gas in %LEL, confined-space H₂S, refrigeration-room ammonia,
dust-collector differential pressure, spark counts). The county's data loggers send them as real-time
data (CN 2011, ``-Rtd``) with the codes below. The prefix ``x`` is not used by HJ 212-2017 (``a`` air,
``w`` water, ``e`` … ), so a local code can never collide with a standard one.

Where the standard has a code for the quantity it is used instead of a local one:
``a21005`` CO (mg/m³), ``a19001`` O₂ (% vol), ``a01012`` gas temperature (°C, used for the dust
collector's inlet temperature).

=========  ==========================================  ===========  ====================================
code       quantity                                    unit         sensor (registry ``sensor``)
=========  ==========================================  ===========  ====================================
``x01001`` 可燃气体浓度 combustible gas                 ``%LEL``     ``combustible_gas`` (distilleries)
``x01002`` 硫化氢 H₂S at the workplace                  ``mg/m3``    ``toxic_gas`` (sewage plants' pits)
``x01003`` 氨 NH₃ at the workplace                      ``mg/m3``    ``ammonia`` (refrigeration rooms)
``x02001`` 除尘器压差 dust-collector differential       ``Pa``       ``dust_collector`` (wood, furniture)
           pressure
``x02002`` 火花探测 sparks detected in the duct         ``count``    ``dust_collector``
           (per reporting interval)
=========  ==========================================  ===========  ====================================

Status: local convention of this project (the county's logger configuration), not a standard. The
parameter table (``sensors/data/parameters.yaml``) carries their names, units and plausible ranges.
"""

from __future__ import annotations

#: Local code → canonical unit of its ``-Rtd``/``-Avg`` value.
LOCAL_UNITS: dict[str, str] = {
    "x01001": "%LEL",
    "x01002": "mg/m3",
    "x01003": "mg/m3",
    "x02001": "Pa",
    "x02002": "count",
}

#: Local code → Chinese name (messages, pages).
LOCAL_NAMES_ZH: dict[str, str] = {
    "x01001": "可燃气体浓度",
    "x01002": "硫化氢（作业场所）",
    "x01003": "氨（作业场所）",
    "x02001": "除尘器压差",
    "x02002": "火花探测计数",
}
