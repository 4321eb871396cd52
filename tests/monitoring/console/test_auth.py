"""Login, sessions, throttling, users (CLI and admin page), CSRF and security headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from monitoring.cli import app as cli
from monitoring.console import create_app
from monitoring.console.app import CSP
from monitoring.console.users import (
    MAX_FAILURES_PER_USER,
    THROTTLE_WINDOW,
    LoginThrottled,
    authenticate,
    disable_user,
    list_users,
)
from tests.monitoring.console.conftest import PASSWORD, csrf_token, login, post


def test_anonymous_console_redirects_to_login_and_root_to_public(client):
    r = client.get("/console/incidents?show=all")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/console/incidents?show=all"
    assert client.get("/").headers["location"] == "/public/"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_login_sets_a_signed_httponly_lax_session_and_logout_ends_it(client):
    r = login(client, "op")
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("envmon_session=")).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert client.get("/console/").status_code == 200
    assert client.get("/").headers["location"] == "/console/"
    # a tampered session cookie is no session
    value = client.cookies.get("envmon_session")
    client.cookies.set("envmon_session", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert client.get("/console/").status_code == 303
    login(client, "op")
    assert post(client, "/logout").status_code == 303
    assert client.get("/console/").status_code == 303


def test_secure_cookies_behind_https(console_settings):
    from dataclasses import replace

    from starlette.testclient import TestClient
    app = create_app(replace(console_settings, console_https=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        r = login(c, "op")
        cookies = " ".join(r.headers.get_list("set-cookie")).lower()
        assert r.status_code == 303 and "envmon_session=" in cookies and "secure" in cookies


def test_wrong_password_and_unknown_user_are_refused_alike(client):
    a, b = login(client, "op", "wrong password!"), login(client, "nobody", "wrong password!")
    assert a.status_code == b.status_code == 401
    assert "用户名或密码错误" in a.text and "用户名或密码错误" in b.text


def test_open_redirect_is_not_followed(client):
    token = csrf_token(client)
    r = client.post("/login", data={"csrftoken": token, "username": "op", "password": PASSWORD,
                                    "next": "//evil.example/console"})
    assert r.headers["location"] == "/console/"


def test_throttling_blocks_even_the_right_password_until_the_window_passes(console_settings):
    url, t = console_settings.sql_url, datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    for i in range(MAX_FAILURES_PER_USER):
        assert authenticate(url, "op", f"guess {i}......", client="10.0.0.9", now=t + timedelta(seconds=i)) is None
    with pytest.raises(LoginThrottled) as exc:
        authenticate(url, "op", PASSWORD, client="10.0.0.8", now=t + timedelta(minutes=1))
    assert 0 < exc.value.retry_after <= THROTTLE_WINDOW.total_seconds()
    later = t + THROTTLE_WINDOW + timedelta(seconds=MAX_FAILURES_PER_USER)
    assert authenticate(url, "op", PASSWORD, client="10.0.0.8", now=later).name == "op"


def test_throttled_login_page_answers_429(client):
    for _ in range(MAX_FAILURES_PER_USER):
        assert login(client, "lead", "not the password").status_code == 401
    r = login(client, "lead")
    assert r.status_code == 429 and "登录失败次数过多" in r.text


def test_a_disabled_user_loses_the_open_session(client, console_settings):
    login(client, "lead")
    assert client.get("/console/").status_code == 200
    disable_user(console_settings.sql_url, "lead")
    assert client.get("/console/").status_code == 303
    assert login(client, "lead").status_code == 401


def test_users_cli_reads_the_password_from_stdin_only(console_settings):
    runner = CliRunner()
    r = runner.invoke(cli, ["users", "add", "zhang", "--role", "operator", "--password-stdin"],
                      input="a long enough secret\n")
    assert r.exit_code == 0, r.output
    assert "secret" not in r.output
    r = runner.invoke(cli, ["users", "add", "li", "--role", "operator"])
    assert r.exit_code == 2 and "--password-stdin" in r.output
    r = runner.invoke(cli, ["users", "add", "li", "--role", "operator", "--password-stdin"], input="short\n")
    assert r.exit_code == 2 and "at least 10" in r.output
    r = runner.invoke(cli, ["users", "add", "li", "--role", "boss", "--password-stdin"], input="a long enough secret\n")
    assert r.exit_code == 2 and "unknown role" in r.output
    r = runner.invoke(cli, ["users", "list", "--json"])
    assert '"zhang"' in r.output and "argon2" not in r.output
    r = runner.invoke(cli, ["users", "disable", "zhang"])
    assert r.exit_code == 0
    assert [u.active for u in list_users(console_settings.sql_url) if u.name == "zhang"] == [False]
    assert authenticate(console_settings.sql_url, "zhang", "a long enough secret", client="x") is None


def test_passwords_are_stored_as_argon2id_hashes(console_settings):
    from sqlalchemy import select

    from monitoring.console.users import ConsoleUser
    from monitoring.db import session_scope
    with session_scope(console_settings.sql_url) as s:
        hashes = list(s.scalars(select(ConsoleUser.password_hash)))
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_admin_adds_and_disables_users_in_the_console(client, console_settings):
    login(client, "adm")
    r = post(client, "/console/users", {"name": "wang", "role": "leader", "password": "another long one"})
    assert r.status_code == 303
    assert post(client, "/console/users/wang/disable").status_code == 303
    assert post(client, "/console/users/adm/disable").status_code == 409
    assert {u.name: u.active for u in list_users(console_settings.sql_url)}["wang"] is False


# ---------------------------------------------------------------------------------------------------
# CSRF and headers
# ---------------------------------------------------------------------------------------------------
def test_state_changes_without_the_token_are_refused(client, incident_id):
    assert client.post("/login", data={"username": "op", "password": PASSWORD}).status_code == 403
    assert client.post("/public/complaints", data={"what": "x", "where": "y", "when": "z"}).status_code == 403
    login(client, "op")
    r = client.post(f"/console/incidents/{incident_id}/claim", data={"note": "no token"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert r.headers["content-security-policy"] == CSP
    # a token that is not this browser's cookie
    r = client.post(f"/console/incidents/{incident_id}/claim", data={"csrftoken": "forged.token"})
    assert r.status_code == 403
    # JSON bodies are not a way around it
    assert client.post(f"/console/incidents/{incident_id}/claim", json={"note": "x"}).status_code == 403
    assert post(client, f"/console/incidents/{incident_id}/claim").status_code == 303


def test_a_cross_site_origin_is_refused_even_with_a_valid_token(client, incident_id):
    login(client, "op")
    token = client.cookies.get("csrftoken")
    r = client.post(f"/console/incidents/{incident_id}/claim", data={"csrftoken": token},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin" in r.text
    r = client.post(f"/console/incidents/{incident_id}/claim", data={"csrftoken": token},
                    headers={"Origin": "http://testserver"})
    assert r.status_code == 303


@pytest.mark.parametrize("path", ["/login", "/public/", "/console/", "/healthz", "/static/console.css"])
def test_security_headers_on_every_response(client, path):
    r = client.get(path)
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_no_inline_script_in_any_page(client, incident_id):
    login(client, "op")
    for path in ("/login", "/public/", "/public/complaints/new", "/console/", "/console/incidents",
                 f"/console/incidents/{incident_id}", "/console/complaints"):
        html = client.get(path).text
        for tag in html.split("<script")[1:]:
            assert tag.lstrip().startswith("src=") and tag.split(">", 1)[1].startswith("</script"), path
        assert " on" + "click=" not in html and "javascript:" not in html


def test_envmon_up_hint_for_the_first_admin_until_a_user_exists(settings):
    """No default account exists: while the store has no user, ``envmon up`` says how to create the first
    admin (with the data directory, so the command reaches the same store); after that it says nothing."""
    from monitoring.console.users import add_user, first_admin_hint

    hint = first_admin_hint(settings.sql_url, settings.data_dir)
    assert hint is not None
    assert f"ENVMON_DATA_DIR={settings.data_dir} envmon users add NAME --role admin --password-stdin" in hint
    add_user(settings.sql_url, "first", role="admin", password=PASSWORD)
    assert first_admin_hint(settings.sql_url, settings.data_dir) is None
