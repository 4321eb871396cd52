"""The public site: complaint form with receipt and rate limit; no personal data on public pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from monitoring.complaints import (
    PUBLIC_LIMITS,
    ComplaintRateLimited,
    complaints_frame,
    handle_public,
    public_submissions,
    receipt_status,
    submit_public,
)
from tests.monitoring.console.conftest import login, post

CONTACT = "张三 13800000000"


def submit(client, **fields):
    data = {"what": "夜间刺鼻气味", "where": "江口集聚区北侧", "when": "昨晚 21 点", "contact": CONTACT,
            "zone": "jiangkou", **fields}
    return post(client, "/public/complaints", data, page="/public/complaints/new")


def test_a_complaint_gets_a_receipt_and_its_status_shows_no_personal_data(client, console_settings):
    r = submit(client)
    assert r.status_code == 303
    receipt = parse_qs(urlparse(r.headers["location"]).query)["no"][0]
    assert receipt.startswith("TS-") and len(receipt) == 12
    page = client.get(r.headers["location"]).text
    assert receipt in page and "已受理" in page
    assert "13800000000" not in page and "张三" not in page and "刺鼻" not in page
    (sub,) = public_submissions(console_settings.sql_url)
    assert sub.contact == CONTACT and sub.client != "testclient"  # the address is hashed
    # handled by the bureau: a public answer, an internal note, recorded against an enterprise
    login(client, "op")
    r = post(client, f"/console/complaints/{sub.id}", {"status": "answered", "answer": "已现场检查，责令整改",
                                                      "internal_note": "联系人张三反映属实", "enterprise": "JK-001",
                                                      "substantiated": "yes"})
    assert r.status_code == 303
    frame = complaints_frame(console_settings.sql_url)
    assert list(frame["enterprise"]) == ["JK-001"] and bool(frame["substantiated"].iloc[0])
    assert list(frame["channel"]) == ["web"]
    post(client, "/logout")
    page = client.get(f"/public/complaints/receipt?no={receipt.lower()}").text
    assert "已答复" in page and "已现场检查，责令整改" in page
    for secret in ("张三", "13800000000", "联系人", ">op<", "op-姓名", "JK-001"):
        assert secret not in page, secret


def test_required_fields_and_lengths(client):
    r = submit(client, what="  ")
    assert r.status_code == 422 and "what" in r.text
    r = submit(client, where="x" * 201)
    assert r.status_code == 422 and "at most 200" in r.text
    assert client.get("/public/complaints/receipt?no=TS-AAAA-AAAA").status_code == 404


def test_rate_limit_per_client(console_settings, client):
    window, allowed = PUBLIC_LIMITS[0]
    t = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    url = console_settings.sql_url
    for i in range(allowed):
        submit_public(url, what="w", where="p", when="t", client="203.0.113.7", now=t + timedelta(minutes=i))
    with pytest.raises(ComplaintRateLimited) as exc:
        submit_public(url, what="w", where="p", when="t", client="203.0.113.7", now=t + timedelta(minutes=10))
    assert exc.value.retry_after == int((window - timedelta(minutes=10)).total_seconds()) + 1
    submit_public(url, what="w", where="p", when="t", client="198.51.100.1", now=t + timedelta(minutes=10))
    submit_public(url, what="w", where="p", when="t", client="203.0.113.7", now=t + window + timedelta(minutes=1))
    # through the form: the test client's address runs into the limit
    codes = [submit(client).status_code for _ in range(allowed + 1)]
    assert codes == [303] * allowed + [429]


def test_answer_is_needed_to_answer(console_settings):
    receipt = submit_public(console_settings.sql_url, what="w", where="p", when="t", client="x")
    (sub,) = public_submissions(console_settings.sql_url)
    with pytest.raises(ValueError, match="answer"):
        handle_public(console_settings.sql_url, sub.id, by="op", status="closed")
    handle_public(console_settings.sql_url, sub.id, by="op", status="handling", internal_note="转执法大队")
    assert receipt_status(console_settings.sql_url, receipt).status == "handling"


def test_public_pages_show_no_personal_data_or_internal_notes(client, console_settings):
    from tests.monitoring.console.test_inspections_public import publish_one_result
    secrets = publish_one_result(console_settings)
    submit_public(console_settings.sql_url, what="排污口冒黑水", where="南溪", when="今天", contact=CONTACT, client="x")
    pages = ["/public/", "/public/results", "/public/zones/jiangkou", "/public/enterprises/JK-001",
             "/public/complaints/new", "/public/complaints/receipt"]
    texts = {p: client.get(p) for p in pages}
    assert all(r.status_code == 200 for r in texts.values())
    body = "\n".join(r.text for r in texts.values())
    for secret in [*secrets, "张三", "13800000000", "排污口冒黑水"]:
        assert secret not in body, secret
