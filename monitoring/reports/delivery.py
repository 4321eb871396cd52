"""Scheduled issuing and delivery of the monthly reports (the ``monthly_report`` DAG calls :func:`scheduled_run`).

* On the 1st of a month at 02:00 local: the *preliminary* reports of the previous month.
* On the data-review deadline day (``ENVMON_REPORT_REVIEW_DAY``, the 10th by default): the *final* reports of
  the previous month (a new version with a change list when anything changed since the preliminary one).
* Other days: nothing is due.

Both are published to ``$ENVMON_DATA_DIR/public/reports/<YYYY-MM>/<scope>/`` (public version: no handlers'
names, no complaint texts) and sent to the bureau's channels (``ENVMON_NOTIFY_URLS`` /
``ENVMON_NOTIFY_CONNECTIONS``, apprise): e-mail channels get the county and cluster PDFs as attachments,
chat channels (WeCom, DingTalk, webhooks) a link under ``ENVMON_PUBLIC_URL``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.config import DEFAULT_CONSOLE_URL, LOCAL_TZ, Settings, load_settings
from monitoring.reports.build import BuildResult, build_monthly
from monitoring.reports.period import STATUS_ZH, ReportMonth

log = logging.getLogger(__name__)
EMAIL_SCHEMES = ("mailto", "mailtos")


@dataclass
class DeliveryReport:
    month: str | None = None
    status: str | None = None
    issued: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def due(now: datetime, review_day: int) -> tuple[ReportMonth, str] | None:
    """(month, status) due at ``now`` (local date decides), or None."""
    local = pd.Timestamp(now).tz_convert(LOCAL_TZ)
    previous = ReportMonth(local.year, local.month, review_day).previous()
    if local.day == 1:
        return previous, "preliminary"
    if local.day == review_day:
        return previous, "final"
    return None


def public_link(month: str, scope: str, public_url: str | None = None) -> str:
    base = (public_url or DEFAULT_CONSOLE_URL).rstrip("/")
    return f"{base}/public/reports/{month}/{scope}/report.pdf"


def send(result: BuildResult, settings: Settings, urls: list[str] | None = None) -> tuple[int, int]:
    """Tell the bureau's channels: e-mail with the public PDFs attached, chat channels with links."""
    import apprise

    from monitoring.notifications.channels import channel_urls

    urls = urls if urls is not None else channel_urls(settings)
    issued = [r for r in result.results if r.action == "issued"]
    if not urls or not issued:
        return 0, 0
    month = result.month
    status_zh = STATUS_ZH[issued[0].status]
    title = f"云阳县中小企业集聚区环境监测月报 {month.label_zh}（{status_zh}）"
    lines = [f"{r.scope.key}: 第 {r.version} 版 {public_link(month.label, r.scope.key, settings.public_url)}"
             for r in issued]
    body = f"{title}已发布：\n" + "\n".join(lines)
    pdfs = [str(settings.public_reports_dir / month.label / r.scope.key / "report.pdf") for r in issued]
    sent = failed = 0
    for url in urls:
        a = apprise.Apprise()
        if not a.add(url):
            failed += 1
            log.warning("report delivery: unusable apprise URL (scheme %s)", url.split(":", 1)[0])
            continue
        attach = apprise.AppriseAttachment([p for p in pdfs if Path(p).exists()]) \
            if url.split(":", 1)[0].lower() in EMAIL_SCHEMES else None
        ok = a.notify(title=title, body=body, attach=attach)
        sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
    return sent, failed


def scheduled_run(now: datetime | None = None, settings: Settings | None = None, *,
                  month: str | None = None) -> DeliveryReport:
    """Issue what is due at ``now`` (or ``month`` now, whatever the day), publish and send it.

    The status follows the clock (:meth:`ReportMonth.status`): preliminary before the review deadline, final
    from it on — the schedule only decides *when* a run happens.
    """
    now = now or datetime.now(UTC)
    settings = (settings or load_settings()).ensure_dirs()
    if month is not None:
        rm = ReportMonth.parse(month, settings.report_review_day)
    else:
        what = due(now, settings.report_review_day)
        if what is None:
            return DeliveryReport(note="nothing due today")
        rm = what[0]
    month = rm
    result = build_monthly(settings, month, now=now, publish=True)
    sent, failed = send(result, settings)
    rep = DeliveryReport(month=month.label, status=month.status(now), sent=sent, failed=failed)
    for r in result.results:
        (rep.issued if r.action == "issued" else rep.unchanged).append(f"{r.scope.key} v{r.version}")
    return rep
