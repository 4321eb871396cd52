"""Reports in the console (every version, staff download) and on the public site (final, public versions)."""

from __future__ import annotations

import json

import pytest

from tests.monitoring.console.conftest import login


def _report(root, month, scope, status, *, public=None):
    d = root / month / scope
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({"month": month, "scope": scope, "status": status, "version": 1,
                                                "issued_at": f"{month}-05T09:00:00+08:00",
                                                "enterprises": [{"enterprise": "JK-001", "status": "exceeded"}]}))
    (d / "report.pdf").write_bytes(b"%PDF-1.7 staff " + month.encode())
    (d / "points.csv").write_text("point,value\n")
    if public is not None:
        p = public / month / scope
        p.mkdir(parents=True)
        (p / "report.pdf").write_bytes(b"%PDF-1.7 public " + month.encode())


def test_staff_see_every_report_and_the_public_only_final_public_versions(client, console_settings):
    s = console_settings
    _report(s.reports_dir, "2026-10", "county", "final", public=s.public_reports_dir)
    _report(s.reports_dir, "2026-11", "county", "preliminary", public=s.public_reports_dir)
    _report(s.reports_dir, "2026-10", "jiangkou/JK-001", "final")
    public = client.get("/public/reports").text
    assert "2026-10" in public and "2026-11" not in public
    assert client.get("/public/reports/2026-10/county/report.pdf").content == b"%PDF-1.7 public 2026-10"
    assert client.get("/public/reports/2026-11/county/report.pdf").status_code == 404      # preliminary
    assert client.get("/public/reports/2026-10/county/points.csv").status_code == 404      # not a public file
    ent = client.get("/public/enterprises/JK-001").text
    assert "2026-10" in ent and "超标" in ent and "2026-11" not in ent
    assert client.get("/console/reports").status_code == 303
    login(client, "lead")
    page = client.get("/console/reports").text
    assert "2026-11" in page and "初步" in page and "jiangkou/JK-001/report.pdf" in page
    r = client.get("/console/reports/2026-10/jiangkou/JK-001/report.pdf")
    assert r.status_code == 200 and r.content == b"%PDF-1.7 staff 2026-10"
    for bad in ("/console/reports/2026-10/../../console-secret/x", "/console/reports/2026-10/county/summary.txt",
                "/console/reports/1999-13/county/report.pdf"):
        assert client.get(bad).status_code == 404, bad


def test_an_operator_regenerates_a_report_and_a_new_version_is_kept(console_settings, influx_store,
                                                                   readings_factory):
    """Regeneration runs the report code (monitoring.reports.build_monthly) in the background: the first
    request issues v1; a second with unchanged data keeps v1 (no new version, monitoring.reports.versions);
    late data for the month changes the data version, so a third issues v2 and v1 stays under versions/.
    Every request is recorded with who asked; a leader may not ask."""
    import dataclasses

    from starlette.testclient import TestClient

    from monitoring.console import create_app, report_jobs
    from tests.monitoring.console.conftest import post

    s = dataclasses.replace(console_settings, influx_url=influx_store.url, influx_db=influx_store.database)
    month, scope = "2026-10", "jiangkou/JK-001"
    with TestClient(create_app(s, escalate_every_s=0), base_url="http://testserver", follow_redirects=False) as c:
        login(c, "lead")
        assert post(c, "/console/reports/regenerate", {"month": month, "scope": scope}).status_code == 403
        c.cookies.clear()
        login(c, "op")
        assert post(c, "/console/reports/regenerate", {"month": "2026-13", "scope": scope}).status_code == 409
        r = post(c, "/console/reports/regenerate", {"month": month, "scope": scope})
        assert r.status_code == 303
        first = report_jobs.history(s)[0]
        assert (first["by"], first["month"], first["scope"]) == ("op", month, scope)
        dup = post(c, "/console/reports/regenerate", {"month": month, "scope": scope})
        assert dup.status_code == 409 or report_jobs.history(s)[0]["state"] in ("started", "done")
        report_jobs.wait(first["id"], timeout=600)
        done = report_jobs.history(s)[0]
        assert done["state"] == "done", done
        assert [(o["scope"], o["action"], o["version"]) for o in done["outcomes"]] == [(scope, "issued", 1)]
        folder = s.reports_dir / month / scope
        assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
        assert (folder / "versions" / "v1" / "summary.json").exists()

        post(c, "/console/reports/regenerate", {"month": month, "scope": scope})
        report_jobs.wait(report_jobs.history(s)[0]["id"], timeout=600)
        again = report_jobs.history(s)[0]
        assert [(o["action"], o["version"]) for o in again["outcomes"]] == [("unchanged", 1)]
        page = c.get("/console/reports").text
        assert "未变化，仍为 v1" in page and "签发 v1" in page and "重新生成" in page
        assert json.loads((folder / "summary.json").read_text())["status"] == "final"   # Oct is past review
        assert "正式" in page

        influx_store.write_readings(readings_factory(24, start="2026-10-15T00:00:00+08:00", enterprise="JK-001",
                                                     point="JK-001-DW001", kind="wastewater", parameter="w01018",
                                                     unit="mg/L"))
        post(c, "/console/reports/regenerate", {"month": month, "scope": scope})
        report_jobs.wait(report_jobs.history(s)[0]["id"], timeout=600)
        late = report_jobs.history(s)[0]
        assert [(o["action"], o["version"]) for o in late["outcomes"]] == [("issued", 2)], late
        assert (folder / "versions" / "v1" / "report.pdf").exists() and (folder / "versions" / "v2" / "report.pdf").exists()
        page = c.get("/console/reports").text
        assert "签发 v2" in page and "v2 <small class=\"muted\">（保留 2 版）</small>" in page
        assert f'href="/console/reports/{month}/{scope}/versions"' in page

        # every kept version opens from the console: v2 first, with what changed against v1 (the late data
        # changed the readings component of the data version), v1 first issued; each one's own files
        versions = c.get(f"/console/reports/{month}/{scope}/versions")
        assert versions.status_code == 200
        text = versions.text
        assert text.index('id="v2"') < text.index('id="v1"') and "首次签发" in text
        v2_row = text[text.index('id="v2"'):text.index('id="v1"')]
        assert "数据组成: 监测数据（数据指纹（SHA-256 前 12 位））" in v2_row and "→" in v2_row
        v1 = c.get(f"/console/reports/{month}/{scope}/versions/1/report.pdf")
        assert v1.status_code == 200 and v1.content == (folder / "versions" / "v1" / "report.pdf").read_bytes()
        assert "attachment" in v1.headers["content-disposition"] and "v1-report.pdf" in v1.headers["content-disposition"]
        v2_summary = c.get(f"/console/reports/{month}/{scope}/versions/2/summary.json").json()
        assert v2_summary["version"] == 2 and v2_summary["changes"]
        for bad in (f"/console/reports/{month}/{scope}/versions/3/report.pdf",          # never issued
                    f"/console/reports/{month}/{scope}/versions/0/report.pdf",
                    f"/console/reports/{month}/{scope}/versions/x1/report.pdf",
                    f"/console/reports/{month}/{scope}/versions/1/issue.json",          # not a report file
                    f"/console/reports/{month}/{scope}/versions/1/..%2F..%2Fsummary.json",
                    f"/console/reports/{month}/nowhere/versions",
                    "/console/reports/2026-13/county/versions"):
            assert c.get(bad).status_code == 404, bad
        c.cookies.clear()
        assert c.get(f"/console/reports/{month}/{scope}/versions").status_code == 303          # staff only
        assert c.get(f"/console/reports/{month}/{scope}/versions/1/report.pdf").status_code == 303


def test_a_regeneration_cut_off_by_a_stopped_server_does_not_block_the_next(console_settings):
    """A request recorded as queued whose process stopped before the build ended is shown as interrupted
    after an hour and refuses nothing; a fresh queued one refuses a duplicate."""
    from datetime import UTC, datetime, timedelta

    from monitoring.console import report_jobs

    s = console_settings
    old = datetime.now(UTC) - timedelta(hours=2)
    report_jobs._record(s, {"id": "dead", "event": "requested", "at": old.isoformat(), "requested_at": old.isoformat(),
                            "month": "1999-01", "scope": "county", "by": "op"})
    assert report_jobs.history(s)[0]["state"] == "interrupted"
    fresh = datetime.now(UTC).isoformat()
    report_jobs._record(s, {"id": "live", "event": "requested", "at": fresh, "requested_at": fresh,
                            "month": "1999-02", "scope": "county", "by": "op"})
    with pytest.raises(report_jobs.RegenerationError, match="已在生成队列"):
        report_jobs.request(s, "1999-02", "county", by="op2")
    assert [r["id"] for r in report_jobs.history(s)] == ["live", "dead"]
    rid = report_jobs.request(s, "1999-01", "county", by="op2")     # the interrupted one blocks nothing
    report_jobs.wait(rid, timeout=120)
    failed = next(r for r in report_jobs.history(s) if r["id"] == rid)
    assert failed["state"] == "failed" and failed["error"]          # no InfluxDB here: the reason is recorded
