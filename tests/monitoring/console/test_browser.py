"""The console and the public site in Debian's Chromium (Playwright), against ``envmon serve`` on a free
loopback port: log in, take an incident from 报警 to 办结 with evidence, submit a complaint and read the
receipt, refuse a cross-site POST, show hostile text as text, and keep personal data off public pages.

Screenshots go to the test's tmp dir, and also to ``$ENVMON_SCREENSHOT_DIR`` when set (to look at them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitoring.complaints import public_submissions
from monitoring.config import LOCAL_TZ
from monitoring.console.users import add_user
from tests.monitoring.console.conftest import PASSWORD, make_incident

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EVIL_TEXT = "<img src=x onerror=alert(1)><script>alert(2)</script>恶意"
CONTACT = "王小明 13900001111"


def _png_bytes() -> bytes:
    """A real PNG (matplotlib draws it) for the evidence upload."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.text(0.1, 0.4, "site photo")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture
def server(console_settings, tmp_path):
    """``envmon serve --port 0`` as a subprocess on the test's data dir; yields its base URL."""
    env = {**os.environ, "ENVMON_DATA_DIR": str(console_settings.data_dir), "PYTHONPATH": os.getcwd()}
    env.pop("ENVMON_DB_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "monitoring.cli", "serve", "--port", "0", "--log-level",
                             "warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first, first + proc.stdout.read()
        yield first[first.index("http://"):].strip()          # ends with "/"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def evil_site(tmp_path):
    """Another origin (same host, other port: same *site*, so SameSite=Lax cookies are sent) whose page
    auto-submits a form to the console — what a CSRF attack looks like."""
    root = tmp_path / "evil"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("ENVMON_SCREENSHOT_DIR"):
        Path(os.environ["ENVMON_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["ENVMON_SCREENSHOT_DIR"]) / path.name)
    assert path.stat().st_size > 5_000
    return path


def test_console_and_public_site_in_chromium(console_settings, server, evil_site, tmp_path):
    from playwright.sync_api import sync_playwright

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    inc = make_incident(console_settings, start=now - timedelta(hours=6), hours=4, now=now - timedelta(hours=2))
    add_user(console_settings.sql_url, "evil", role="leader", password=PASSWORD, display_name=EVIL_TEXT)
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(_png_bytes())

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
        page = ctx.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        csp_errors: list[str] = []
        page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)

        # --- the public complaint form, then its receipt
        page.goto(server + "public/complaints/new")
        page.fill("textarea[name=what]", EVIL_TEXT + " 夜间排放刺鼻气体")
        page.fill("input[name=where]", "江口集聚区北侧小河边")
        page.select_option("select[name=zone]", "jiangkou")
        page.fill("input[name=when]", "昨晚 21 点左右")
        page.fill("input[name=contact]", CONTACT)
        page.click("button[type=submit]")
        page.wait_for_url("**/public/complaints/receipt?no=*")
        receipt = page.inner_text("#receipt")
        assert receipt.startswith("TS-") and "已受理" in page.inner_text("body")
        _shot(page, tmp_path, "public-receipt")

        # --- public pages: no personal data, no internal notes
        for path in ("public/", "public/zones/jiangkou", "public/results", f"public/complaints/receipt?no={receipt}"):
            page.goto(server + path)
            text = page.inner_text("body")
            for secret in ("王小明", "13900001111", "刺鼻气体", "小河边"):
                assert secret not in text, (path, secret)
        page.goto(server + "public/")
        _shot(page, tmp_path, "public-home")

        # --- anonymous console → login page; wrong password; right password
        page.goto(server + f"console/incidents/{inc}")
        assert "/login" in page.url
        page.fill("input[name=username]", "op")
        page.fill("input[name=password]", "wrong password")
        page.click("button[type=submit]")
        assert "用户名或密码错误" in page.inner_text("body")
        page.fill("input[name=username]", "op")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/console/incidents/{inc}")         # back where the link pointed
        page.goto(server + "console/")
        _shot(page, tmp_path, "console-overview")
        page.goto(server + "console/incidents")
        assert f"#{inc}" in page.inner_text("#inbox-table")
        _shot(page, tmp_path, "console-inbox")

        # --- a cross-site POST (same site, other origin; the session cookie goes along) is refused
        root, evil_url = evil_site
        (root / "attack.html").write_text(
            f'<!doctype html><form id=f method=post action="{server}console/incidents/{inc}/claim">'
            f'<input name=note value=pwned></form><script>document.getElementById("f").submit()</script>',
            encoding="utf-8")
        page.goto(evil_url + "/attack.html")
        page.wait_for_load_state()
        assert "跨站请求被拒绝" in page.inner_text("body") or "CSRF" in page.inner_text("body")
        page.goto(server + f"console/incidents/{inc}")
        assert page.inner_text("#stage") == "报警", "the forged claim changed nothing"

        # --- the workflow: 认领 → 核实 → 处置 → 反馈 → (证据) → 办结
        page.fill("#action input[name=note]", "值班员认领")
        page.click("#action button[type=submit]")
        assert page.inner_text("#stage") == "认领"
        page.select_option("select[name=finding]", "confirmed")
        page.fill("#action textarea[name=note]", "调取在线数据与治理设施工况，超标属实")
        page.click("#action button[type=submit]")
        page.select_option("select[name=reason]", "rectify")
        page.fill("input[name=due]", (now + timedelta(days=5)).strftime("%Y-%m-%d"))
        page.fill("#action textarea[name=note]", "下达整改通知书")
        page.click("#action button[type=submit]")
        page.fill("#action textarea[name=note]", "企业更换活性炭，提交整改报告")
        page.click("#action button[type=submit]")
        assert page.inner_text("#stage") == "反馈"
        page.fill("#action textarea[name=note]", "整改到位")
        page.click("#action button[type=submit]")
        assert "办结前须有证据" in page.inner_text(".error") or "evidence" in page.inner_text(".error")
        page.fill("form[enctype] input[name=note]", "整改后现场照片")
        page.set_input_files("input[name=attachment]", str(photo))
        page.click("form[enctype] button[type=submit]")
        assert "现场照片.png" in page.inner_text("body")
        page.fill("#action textarea[name=note]", "整改到位，办结")
        page.click("#action button[type=submit]")
        assert page.inner_text("#stage") == "办结"
        trail = page.inner_text("#trail")
        for step in ("认领", "核实", "处置", "反馈", "证据", "办结", "op"):
            assert step in trail, step
        _shot(page, tmp_path, "console-incident-closed")

        # --- 双随机: draw (confirmation step), verify, record a result with checklist and photo, publish
        page.goto(server + "console/inspections")
        quarter = f"{now.astimezone(LOCAL_TZ).year}-Q{(now.astimezone(LOCAL_TZ).month - 1) // 3 + 1}"
        page.fill("#draw-form input[name=period]", quarter)
        page.click("#draw-form button[type=submit]")
        assert "确认抽取" in page.inner_text("h1") and quarter in page.inner_text("main")
        page.click("#confirm-form button[type=submit]")
        page.wait_for_url("**/console/inspections/records/*")
        page.click("#verify")
        assert "复核一致 MATCH" in page.inner_text("#verify-result")
        page.click("table.grid a >> nth=0")
        task_id = page.inner_text("h1").split()[-1]
        for select in page.locator("#result-form select[name^=check_]").all():
            select.select_option("yes")
        page.select_option("#result-form select[name=outcome]", "violation")
        page.fill("#result-form textarea[name=note]", "危废暂存间未张贴标识（内部记录）")
        page.set_input_files("#result-form input[name=photos]", str(photo))
        page.click("#result-form button[type=submit]")
        assert "发现环境违法问题" in page.inner_text("#result")
        _shot(page, tmp_path, "console-inspection-task")
        page.goto(server + "console/inspections")
        page.select_option("#publish-form select[name=period]", quarter)
        page.click("#publish-form button[type=submit]")
        assert "新公开 1 条" in page.inner_text("main")
        page.goto(server + "public/results")
        public_text = page.inner_text("body")
        assert task_id in public_text and "发现环境违法问题" in public_text
        for secret in ("危废暂存间未张贴标识", "现场照片", "op-姓名"):
            assert secret not in public_text, secret
        _shot(page, tmp_path, "public-results")

        # --- staff complaint page: the hostile text is text, no script ran
        sub = public_submissions(console_settings.sql_url)[0]
        page.goto(server + f"console/complaints/{sub.id}")
        assert EVIL_TEXT in page.inner_text("body") and CONTACT in page.inner_text("body")
        _shot(page, tmp_path, "console-complaint")
        page.click("text=退出")
        page.wait_for_url("**/login")

        # --- a user whose display name is a script: shown as text in the header
        page.fill("input[name=username]", "evil")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/console/")
        assert EVIL_TEXT in page.inner_text("header")
        browser.close()

    assert dialogs == [], "no script from the data ran"
    assert csp_errors == [], csp_errors   # our own pages need nothing the policy forbids
