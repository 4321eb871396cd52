"""Published 双随机 results on the public site: shown per cluster and enterprise, nothing internal."""

from __future__ import annotations

from datetime import UTC, date, datetime

from monitoring.roster.directories import load_inspectors
from monitoring.roster.publication import publish_period, record_result
from monitoring.roster.records import run_draw

DRAWN = datetime(2026, 9, 28, 1, 0, tzinfo=UTC)
NOTE = "喷漆房废气收集设施未运行，现场责令停产"


def publish_one_result(settings) -> list[str]:
    """Draw 2026-Q4 for the county, record one violation, publish; return what must never be public:
    inspector names and certificates, the internal note, the recorder."""
    rec = run_draw(settings, "2026-Q4", seed=7, by="测试抽取人", now=DRAWN)
    task_id = min(rec["task_ids"].values())
    record_result(settings, task_id, outcome="violation", note=NOTE, by="结果录入人",
                  inspected_on=date(2026, 10, 9), now=datetime(2026, 10, 10, tzinfo=UTC))
    publish_period(settings, "2026-Q4", by="信息公开员", now=datetime(2026, 10, 20, tzinfo=UTC))
    directory = load_inspectors(settings.inspectors_path)
    names = [i.name for i in directory.active()] + [i.certificate for i in directory.active()]
    return [*names, NOTE, "结果录入人", "测试抽取人", "信息公开员"]


def test_published_result_is_on_the_enterprise_page(client, console_settings):
    import pandas as pd
    publish_one_result(console_settings)
    (csv,) = console_settings.public_dir.glob("roster-2026-Q4.csv")
    row = pd.read_csv(csv, dtype=str, encoding="utf-8-sig").iloc[0]
    page = client.get(f"/public/enterprises/{row['企业编码']}").text
    assert row["任务编号"] in page and "发现环境违法问题" in page and "2026-10-09" in page
    assert row["任务编号"] in client.get("/public/results").text


def test_plans_are_public_only_after_their_period(client, console_settings):
    from monitoring.config import LOCAL_TZ
    from monitoring.roster.period import Period
    from monitoring.roster.records import run_draw
    secrets = publish_one_result(console_settings)
    q4_over = Period.parse("2026-Q4").end < datetime.now(UTC).astimezone(LOCAL_TZ).date()
    page = client.get("/public/results").text
    assert ("2026-Q4 抽查计划" in page) == q4_over
    rec = run_draw(console_settings, "2026-Q2", seed=2, by="测试抽取人", now=datetime(2026, 3, 28, 1, tzinfo=UTC))
    page = client.get("/public/results").text
    assert "2026-Q2 抽查计划" in page and min(rec["task_ids"].values()) in page and "未实施" in page
    for secret in secrets:
        assert secret not in page, secret
