"""The published 双随机 results page as the public sees it: rendered by Debian's Chromium through Playwright.

Checks what a person reads (visible text, not HTML source): the inspected enterprise and its result, the
hostile enterprise name shown as text (no script ran), and nothing internal — no inspector, no note, no
task not yet carried out.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

from monitoring.roster.publication import publish_period, record_result
from tests.monitoring.roster.test_publication import EVIL, small  # noqa: F401  (fixture)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_public_results_page_in_a_real_browser(small, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    s, rec = small
    record_result(s, rec["task_ids"]["T-001"], outcome="violation", note="喷漆房废气收集设施未运行；检查人员 赵一",
                  by="钱二", inspected_on=date(2026, 9, 30), now=datetime(2026, 10, 1, tzinfo=UTC))
    pub = publish_period(s, "2026-Q4", by="信息公开员", now=datetime(2026, 10, 20, tzinfo=UTC))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(pub.html.as_uri())
        text = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "public.png"), full_page=True)
        browser.close()

    assert EVIL in text, "the hostile name is shown as plain text"
    assert dialogs == [], "no script from the data ran"
    assert "T-001" in text and "2026-09-30" in text and "发现环境违法问题，依法处理" in text
    for secret in ("赵一", "钱二", "孙三", "李四", "P-0", "喷漆房", "T-002", "T-003"):
        assert secret not in text, secret
    assert (tmp_path / "public.png").stat().st_size > 5_000
