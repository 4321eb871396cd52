"""The local time zone of the county: China Standard Time (UTC+8, no daylight saving since 1991).

Everything a person reads is in this zone; HJ 212 ``DataTime`` is this local time with no zone written
(HJ 212-2017 data segment), and lab files and ledgers are written in it. Stored times are UTC.
A module of its own (no pandas) so that the pure protocol tools (receiver, packet codec) start fast.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

#: Asia/Shanghai.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
