"""Messages: Jinja2 templates (``monitoring/templates/notification_*.j2``) filled from an
:class:`~monitoring.incidents.IncidentView`; Chinese, times Asia/Shanghai with the offset shown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from limits.loader import STATUS_ZH
from monitoring.config import DEFAULT_CONSOLE_URL
from monitoring.incidents import (
    EXCEEDANCE_KINDS,
    IncidentView,
    fmt_hours,
    fmt_local,
)
from sensors.parameters import parameter_name_zh

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
DEFAULT_PUBLIC_URL = DEFAULT_CONSOLE_URL   # the console (envmon serve); one default, in monitoring.config

CHECK_NAMES_ZH: dict[str, str] = {
    "concentration": "排放浓度", "rate": "排放速率", "boundary": "厂界浓度", "leq_day": "昼间等效声级",
    "leq_night": "夜间等效声级", "lmax_night": "夜间最大声级", "daily_mean": "日均值", "ph_range": "pH范围",
    "single_reading": "单次监测值", "storage_days": "贮存期限", "temporary_stock": "临时贮存量",
    "declaration": "申报登记", "manifest": "转移联单", "licence": "经营许可证", "data_missing": "数据缺失",
    "ambient_1h": "环境空气1小时平均", "ambient_24h": "环境空气24小时平均", "ambient_8h": "臭氧日最大8小时平均",
    "class_iii": "地下水III类", "trend_warning": "上升趋势预警", "screening": "土壤风险筛选值",
    "control": "土壤风险管制值",
}
AVERAGING_NAMES_ZH: dict[str, str] = {"1h": "小时均值", "1d": "日均值", "day": "昼间", "night": "夜间", "8h": "8小时均值",
                                      "single": "单次值", "event": "事件"}
#: How sure a limit is, in Chinese: the one table of :mod:`limits.loader`.
LIMIT_STATUS_ZH: dict[str, str] = STATUS_ZH
KIND_TITLES: dict[tuple[str, str], str] = {
    ("open", "exceedance"): "超标告警", ("open", "data_missing"): "数据缺失告警",
    ("clear", "exceedance"): "超标恢复", ("clear", "data_missing"): "数据恢复",
    ("escalate", "exceedance"): "超标升级", ("escalate", "data_missing"): "数据缺失升级",
    ("digest", "exceedance"): "超标进展", ("digest", "data_missing"): "数据缺失进展",
    ("open", "ambient"): "环境空气质量超标", ("clear", "ambient"): "环境空气质量恢复",
    ("escalate", "ambient"): "环境空气质量超标升级", ("digest", "ambient"): "环境空气质量超标进展",
    ("open", "trend"): "地下水趋势预警", ("clear", "trend"): "地下水趋势预警解除",
    ("escalate", "trend"): "地下水趋势预警升级", ("digest", "trend"): "地下水趋势预警进展",
    ("open", "security"): "安全事件", ("clear", "security"): "安全事件解除",
    ("escalate", "security"): "安全事件升级", ("digest", "security"): "安全事件进展",
}


# ---------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, trim_blocks=True,
                          lstrip_blocks=True, keep_trailing_newline=False, undefined=jinja2.StrictUndefined)


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.4g}"


def incident_link(incident_id: int, public_url: str | None = None) -> str:
    """``{public_url}/incidents/{id}``: the page a message links to (``Settings.public_url``)."""
    base = (public_url or DEFAULT_PUBLIC_URL).rstrip("/")
    return f"{base}/console/incidents/{incident_id}"


def _context(inc: IncidentView, registry: Any, *, now: datetime, public_url: str | None,
             min_duration: timedelta | None) -> dict[str, Any]:
    zones = getattr(registry, "zones", {}) or {}
    enterprises = getattr(registry, "enterprises", {}) or {}
    points = getattr(registry, "points", {}) or {}
    zone = zones.get(inc.zone) if inc.zone else None
    ent = enterprises.get(inc.enterprise) if inc.enterprise else None
    point = points.get(inc.point)
    group = inc.point == "county" or inc.point.startswith("zone:")   # deadman: all points of a cluster/county
    receiver = inc.kind == "security" and inc.point == "receiver"    # a peer address locked, not one device
    multiple = None
    if inc.kind in EXCEEDANCE_KINDS and inc.peak_value is not None and inc.limit and inc.limit_low is None \
            and not (inc.unit or "").lower().startswith("db"):
        multiple = f"{(inc.peak_value - inc.limit) / inc.limit:.2f}"   # 超标倍数 = (C − C0) / C0
    limit_text = _num(inc.limit)
    if inc.limit_low is not None:
        limit_text = f"{_num(inc.limit_low)}～{_num(inc.limit)}"
    silence = ""
    if inc.kind == "data_missing":
        if inc.started_at is None:
            silence = "无任何有效数据记录"
        else:
            end = inc.cleared_at or now
            silence = (f"自 {fmt_local(inc.started_at)} 起无有效数据"
                       f"（{'中断' if inc.cleared_at else '已中断'} {fmt_hours((end - inc.started_at).total_seconds())}）")
    return {
        "id": inc.id, "kind": "exceedance" if inc.kind in EXCEEDANCE_KINDS else inc.kind, "status": inc.status,
        "status_zh": inc.status_zh, "severity_zh": inc.severity_zh,
        "active": inc.active, "escalation_level": inc.escalation_level,
        "zone": inc.zone, "zone_name": (f"{zone.name_zh}（{zone.town}）" if zone else ("全县" if inc.point == "county" else (inc.zone or "—"))),
        "enterprise": inc.enterprise, "enterprise_name": (ent.name if ent else inc.enterprise),
        "point": inc.point, "point_name": (point.name if point else "全部在线监测点位" if group
                                           else "HJ 212 数据接收端" if receiver else f"{inc.point}（未登记）"),
        "locked_until_local": fmt_local(inc.cleared_at) if inc.kind == "security" and inc.cleared_at else "",
        "parameter": inc.parameter, "parameter_name": parameter_name_zh(inc.parameter),
        "check_name": CHECK_NAMES_ZH.get(inc.check, inc.check),
        "averaging_name": AVERAGING_NAMES_ZH.get(inc.averaging or "", inc.averaging or ""),
        "peak_value": _num(inc.peak_value), "last_value": _num(inc.last_value), "limit_text": limit_text,
        "unit": inc.unit or "", "exceed_multiple": multiple, "standard": inc.standard, "clause": inc.clause,
        "limit_status_zh": LIMIT_STATUS_ZH.get(inc.limit_status or "", inc.limit_status or "未注明"),
        "started_local": fmt_local(inc.started_at), "last_exceed_local": fmt_local(inc.last_exceed_at),
        "confirmed_local": fmt_local(inc.confirmed_at), "cleared_local": (fmt_local(inc.cleared_at) if inc.cleared_at else ""),
        "created_local": fmt_local(inc.created_at), "exceed_hours": fmt_hours(inc.exceed_seconds),
        "min_duration_text": fmt_hours(min_duration.total_seconds()) if min_duration else "最短持续时间",
        "silence_text": silence, "now_local": fmt_local(now), "link": incident_link(inc.id, public_url),
    }


def render(kind: str, inc: IncidentView, registry: Any, *, now: datetime, summary: str = "",
           updates: Sequence[dict[str, Any]] = (), since: datetime | None = None,
           public_url: str | None = None, min_duration: timedelta | None = None) -> tuple[str, str]:
    """(title, body) of a message of ``kind`` (open clear escalate digest) about ``inc``."""
    c = _context(inc, registry, now=now, public_url=public_url, min_duration=min_duration)
    label = KIND_TITLES[(kind, inc.kind)]
    what = (f"{c['parameter_name']}（{inc.parameter}）" if inc.kind in EXCEEDANCE_KINDS
            else "设备口令锁定" if inc.kind == "security" else "监测数据")
    title = f"【{label}·{inc.severity_zh}】{c['zone_name'].split('（')[0]} {c['point_name']} {what} #{inc.id}"
    body = _env.get_template(f"notification_{kind}.j2").render(
        c=c, kind=c["kind"], summary=summary, updates=list(updates), since_local=fmt_local(since))
    return title, re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"


def render_recovery_digest(incidents: Sequence[IncidentView], registry: Any, *, now: datetime,
                           public_url: str | None = None, recover: timedelta | None = None,
                           interval: timedelta | None = None) -> tuple[str, str]:
    """(title, body) of one digest of data-missing recoveries (``notification_recovery_digest.j2``)."""
    items = [_context(i, registry, now=now, public_url=public_url, min_duration=None) for i in incidents]
    title = f"【数据恢复汇总】{len(items)} 个监测点位数据已恢复 #" + ",".join(str(i.id) for i in incidents)
    body = _env.get_template("notification_recovery_digest.j2").render(
        items=items, now_local=fmt_local(now),
        recover_text=f"{recover.total_seconds() / 60:.0f} 分钟" if recover else "一段时间",
        interval_text=f"{interval.total_seconds() / 60:.0f} 分钟" if interval else "一个汇总周期")
    return title, re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"


def render_sla(inc: IncidentView, registry: Any, *, now: datetime, stage_zh: str, level: int, note: str,
               stage_since: datetime | None, due_at: datetime | None, assignee: str | None,
               public_url: str | None = None, next_zh: str = "") -> tuple[str, str]:
    """(title, body) of a handling-stage escalation (:mod:`monitoring.casework`: a claimed stage past its
    allowed time), linking to the incident's console page."""
    c = _context(inc, registry, now=now, public_url=public_url, min_duration=None)
    what = (f"{c['parameter_name']}（{inc.parameter}）" if inc.kind in EXCEEDANCE_KINDS else "监测数据")
    title = (f"【处置超时·第{level}级·{inc.severity_zh}】{c['zone_name'].split('（')[0]} {c['point_name']} {what} "
             f"#{inc.id} {stage_zh}阶段")
    overdue = fmt_hours((now - due_at).total_seconds()) if due_at else "—"
    body = _env.get_template("notification_sla.j2").render(
        c=c, level=level, stage_zh=stage_zh, next_zh=next_zh, note=note, assignee=assignee, overdue_text=overdue,
        stage_since_local=fmt_local(stage_since), due_local=fmt_local(due_at))
    return title, re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
