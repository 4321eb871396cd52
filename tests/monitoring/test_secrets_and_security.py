"""Issue 9 items 3 and 5 on the monitoring side: secrets never printed, PW lockouts become incidents.

* ``envmon registry show --json`` printed every device PW; now ``******`` unless ``--show-secrets``;
* a password in ``ENVMON_INFLUX_URL`` was printed by ``envmon influx ping``, warnings and errors; the
  store now sends it as basic auth and never keeps it in the URL it shows;
* a receiver PW lockout (a security event file) becomes an incident of kind ``security`` once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.influx import InfluxStore
from monitoring.security import import_security_events
from sensors.quarantine import Quarantine


def test_registry_json_masks_pws_unless_asked(settings, registry):
    out = CliRunner().invoke(app, ["registry", "show", "--json"])
    assert out.exit_code == 0
    pws = [p["pw"] for p in json.loads(out.stdout)["points"] if p.get("pw")]
    assert pws and set(pws) == {"******"}
    real = {p.pw for p in registry.points.values() if p.pw}
    assert not any(pw in out.stdout for pw in real if len(pw) >= 6)
    shown = CliRunner().invoke(app, ["registry", "show", "--json", "--show-secrets"])
    assert {p["pw"] for p in json.loads(shown.stdout)["points"] if p.get("pw")} == real


@pytest.mark.influx
def test_password_in_the_influx_url_is_never_printed(influx_url, monkeypatch):
    url = influx_url.replace("http://", "http://envmon:s3cr3t-pw@")
    store = InfluxStore(url, "envmon")
    assert "s3cr3t" not in store.url and "s3cr3t" not in repr(store) and store.session.auth == ("envmon", "s3cr3t-pw")
    store.close()
    monkeypatch.setenv("ENVMON_INFLUX_URL", url)
    out = CliRunner().invoke(app, ["influx", "ping"])
    assert out.exit_code == 0, out.output
    assert "s3cr3t" not in out.output and influx_url.split("//")[1] in out.output
    # an unreachable server: the error names the server, not the password
    monkeypatch.setenv("ENVMON_INFLUX_URL", "http://envmon:s3cr3t-pw@127.0.0.1:9/")
    bad = CliRunner().invoke(app, ["influx", "ping"])
    assert bad.exit_code != 0 and "s3cr3t" not in bad.output and "127.0.0.1:9" in bad.output


def test_pw_lockout_becomes_one_security_incident(sql_url, tmp_path):
    sec = Quarantine(tmp_path / "security", "receiver", daily=True)
    now = datetime.now(UTC)
    sec.add(stage="security", origin="peer 10.0.0.7:50122", kind="pw_lockout", key="MN 010000A8900016F000169DC0",
            mn="010000A8900016F000169DC0", point="JK-001-DA001", zone="jiangkou", enterprise="JK-001",
            peer="10.0.0.7:50122", locked_until=(now + timedelta(minutes=15)).isoformat(),
            reason="5 wrong PWs for MN 010000A8900016F000169DC0 within 10 min: locked for 15 min")
    sec.add(stage="security", origin="peer 10.0.0.7:50122", kind="pw_lockout", key="address 10.0.0.7",
            mn="010000A8900016F000169DC0", point="JK-001-DA001", zone="jiangkou", peer="10.0.0.7:50122",
            reason="5 wrong PWs for address 10.0.0.7 within 10 min: locked for 15 min")
    sec.flush()
    first = import_security_events(sql_url, tmp_path, now=now)
    assert [(c.action, c.incident.kind, c.incident.point) for c in first] == [
        ("open", "security", "JK-001-DA001"), ("open", "security", "receiver")]
    assert all(c.incident.status == "open" and not c.incident.active for c in first)
    assert "10.0.0.7" in first.changes[0].summary
    assert len(import_security_events(sql_url, tmp_path, now=now + timedelta(minutes=1))) == 0   # once

    from monitoring.incidents import IncidentManager
    listed = IncidentManager(sql_url).list(open_only=True)
    assert sorted(i.kind for i in listed) == ["security", "security"]
    assert IncidentManager(sql_url).escalate_due(now + timedelta(days=1)).escalated == []
