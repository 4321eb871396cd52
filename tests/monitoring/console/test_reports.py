"""Reports in the console (every version, staff download) and on the public site (final, public versions)."""

from __future__ import annotations

import json

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
    _report(s.reports_dir, "2026-10", "county", "final", public=s.public_dir)
    _report(s.reports_dir, "2026-11", "county", "preliminary", public=s.public_dir)
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
