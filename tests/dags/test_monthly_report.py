"""monthly_report with dag.test(): reports issued, public copy without personal data, e-mail with the PDFs
attached and a chat webhook with the link (real SMTP and HTTP sinks)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import yaml

from monitoring.config import LOCAL_TZ
from monitoring.reports.delivery import due
from tests.monitoring.compliance.helpers import ENT, ZONE, minutes, online
from tests.monitoring.sinks import HttpSink, SmtpSink

pytestmark = [pytest.mark.influx, pytest.mark.airflow, pytest.mark.slow]


def test_schedule_decides_preliminary_on_the_1st_and_final_on_the_review_day():
    assert due(datetime(2026, 12, 1, 2, 0, tzinfo=LOCAL_TZ), 10)[0].label == "2026-11"
    assert due(datetime(2027, 1, 1, 2, 0, tzinfo=LOCAL_TZ), 10)[0].label == "2026-12"
    assert due(datetime(2026, 12, 10, 2, 0, tzinfo=LOCAL_TZ), 10)[1] == "final"
    assert due(datetime(2026, 12, 11, 2, 0, tzinfo=LOCAL_TZ), 10) is None


def test_dag_issues_publishes_and_sends(pipeline_env, influx_store, tmp_path, monkeypatch):
    from dags.monthly_report import DAG

    reg_file = tmp_path / "registry.yaml"
    reg_file.write_text(yaml.safe_dump({"zones": [ZONE], "enterprises": [ENT], "points": [
        online("S1", "stack", ["a21026", "a00000"], height_m=25, above_buildings=True, interval_s=3600)]},
        allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ENVMON_REGISTRY", str(reg_file))
    influx_store.write_readings(minutes("S1", "stack", "a21026", "2024-05-02 00:00", [600.0, 100.0, 100.0],
                                        period="1h", step="1h"))
    with SmtpSink() as smtp, HttpSink() as http:
        monkeypatch.setenv("ENVMON_NOTIFY_URLS", f"{smtp.url} json://127.0.0.1:{http.port}/hook")
        monkeypatch.setenv("ENVMON_PUBLIC_URL", "https://envmon.example.org")
        run = DAG.test(run_conf={"month": "2024-05"})
        assert run.state == "success"
        mails, posts = list(smtp.messages), list(http.posts)
    summary = json.loads((pipeline_env.reports_dir / "2024-05" / "jiangkou" / "summary.json").read_text("utf-8"))
    assert summary["status"] == "final" and summary["headline"]["exceeding_windows"] == 1
    public = pipeline_env.public_dir / "reports" / "2024-05"
    assert (public / "jiangkou" / "report.pdf").exists() and (public / "county" / "report.pdf").exists()
    assert "处理人" not in (public / "jiangkou" / "report.html").read_text("utf-8")
    assert len(mails) == 1
    attached = sorted(p.get_filename() for p in mails[0].message.iter_attachments())
    assert attached == ["report.pdf", "report.pdf"]
    assert "2024年5月" in mails[0].subject
    assert len(posts) == 1
    assert "https://envmon.example.org/public/reports/2024-05/jiangkou/report.pdf" in posts[0].json["message"]
