"""The ASGI application: FastAPI routers, sessions, CSRF, security headers, templates, static files.

Layers, outermost first:

1. :class:`SecurityHeaders` — every response (also CSRF refusals) carries a Content-Security-Policy
   without inline script (``script-src 'self'``), ``frame-ancestors 'none'``, ``nosniff``,
   ``Referrer-Policy: same-origin``; console pages are ``Cache-Control: no-store``.
2. ``asgi_csrf`` (kept library: signed double-submit cookie) — every request that is not GET/HEAD/
   OPTIONS/TRACE must carry the ``csrftoken`` form field (first field of a multipart form) or the
   ``x-csrftoken`` header matching the signed cookie; here *also without any cookie* (the library skips
   cookie-less requests unless told otherwise: :class:`_EveryPath`), so the login and the public
   complaint form are covered too. Plus an Origin check: a state change whose ``Origin`` is not this
   site is refused before the token is looked at.
3. FastAPI with Starlette's ``SessionMiddleware`` (itsdangerous-signed cookie ``envmon_session``,
   HttpOnly, SameSite=Lax, Secure with ``ENVMON_CONSOLE_HTTPS=1``, 8 h).
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import asgi_csrf as _asgi_csrf
from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from monitoring.config import LOCAL_TZ, Settings, load_settings
from monitoring.console.views import Forbidden, LoginRequired

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "envmon_session"
SESSION_MAX_AGE_S = 8 * 3600
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def console_secret(settings: Settings) -> str:
    """``ENVMON_CONSOLE_SECRET``, else a random key kept in ``$DATA_DIR/console-secret`` (mode 0600)."""
    if settings.console_secret:
        return settings.console_secret
    path = settings.data_dir / "console-secret"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (pure ASGI, so CSRF refusals get them too)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(("/console", "/login"))

        async def send_with_headers(event: dict) -> None:
            if event["type"] == "http.response.start":
                headers = [h for h in event.get("headers", []) if h[0].lower() not in {k for k, _ in SECURITY_HEADERS}]
                headers += SECURITY_HEADERS
                if no_store and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                event = {**event, "headers": headers}
            await send(event)

        await self.app(scope, receive, send_with_headers)


class SameOrigin:
    """Refuses a state-changing request whose ``Origin`` (or, without it, ``Referer``) names another
    site than the ``Host`` it was sent to (OWASP CSRF cheat sheet, "verifying origin with standard
    headers"); requests with neither header go on to the token check."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in self.SAFE:
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin", b"").decode("latin-1")
            if not origin or origin == "null":
                referer = headers.get(b"referer", b"").decode("latin-1")
                origin = "/".join(referer.split("/")[:3]) if referer else origin
            if origin and origin.split("://", 1)[-1] != host:
                await _send_refusal(send, "跨站请求被拒绝（来源不符）。cross-site request refused (Origin).")
                return
        await self.app(scope, receive, send)


async def _send_refusal(send: Any, text: str) -> None:
    body = (f"<!doctype html><meta charset=utf-8><title>403</title><p>{text}</p>"
            f"<p><a href=\"/login\">返回</a></p>").encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/html; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})


async def _csrf_failed(scope: dict, send: Any, message_id: Any) -> None:
    await _send_refusal(send, f"表单已失效或来源不符，请刷新页面后重试。CSRF check failed ({message_id.name}).")


def _form_parser_compat(content_type: str, on_field: Any, on_file: Any, boundary: Any = None,
                        FileClass: Any = None) -> Any:
    """asgi-csrf 0.11 passes ``FileClass=`` to python-multipart's ``FormParser``, which no longer takes it
    (python-multipart ≥ 0.0.13). Same rule with today's API: a file part that ends before the
    ``csrftoken`` field was seen is refused (``FileBeforeToken``), so the token must come first."""
    from python_multipart import FormParser

    def file_before_token(_file: Any) -> None:
        raise _asgi_csrf.FileBeforeToken

    return FormParser(content_type, on_field, file_before_token, boundary=boundary)


_asgi_csrf.FormParser = _form_parser_compat


class _EveryPath:
    """``always_protect`` for asgi_csrf: every path, also for requests without cookies."""

    def __contains__(self, path: object) -> bool:
        return True


@dataclass
class Console:
    """What the routes share: settings and the domain objects built from them."""

    settings: Settings
    templates: Jinja2Templates

    @property
    def sql_url(self) -> str:
        return self.settings.sql_url

    @cached_property
    def registry(self):
        from monitoring.registry import load_registry
        return load_registry(self.settings.registry_path)

    @property
    def chart_dir(self) -> Path:
        """Drawn charts shared by the worker processes (:mod:`monitoring.console.charts`)."""
        return self.settings.data_dir / "cache" / "charts"

    @cached_property
    def casework(self):
        from monitoring.casework import Casework
        return Casework(self.sql_url, self.settings.evidence_dir)


def _templates() -> Jinja2Templates:
    from monitoring.console import views
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    views.register_filters(templates.env)
    return templates


ESCALATE_EVERY_S = 300.0
PREWARM_EVERY_S = 60.0      # envmon serve: charts of open incidents drawn ahead (niced child process)


def _settle_memory() -> None:
    """Server start: import what pages and charts need, then move every object alive now into the
    garbage collector's permanent generation (``gc.freeze``) and collect young objects less often.

    Measured reason: a chart makes ~20,000 short-lived matplotlib objects; with the default thresholds
    each draw triggered full collections that walked the whole server heap (SQLAlchemy, pandas, Jinja,
    caches) — the GC took more time than the drawing (cProfile: 0.53 s of 2.0 s in five draws, attributed
    to object constructors). Frozen objects are never scanned; cycles made later are still collected.
    """
    import gc

    import monitoring.charts
    import monitoring.console.charts  # noqa: F401

    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), gen1, gen2)


def escalate_and_notify(console: Console, now: Any = None) -> list[tuple[int, str, int]]:
    """Record the escalations of overdue handling stages, then send every recorded escalation not yet
    sent — once per incident, stage and level — to the alert channels, with the console link
    (:meth:`monitoring.notifications.Notifier.notify_case_escalations`). Channels: those of
    ``ENVMON_NOTIFY_URLS`` / ``ENVMON_NOTIFY_CONNECTIONS``; Airflow Connections cannot be read outside an
    Airflow task, so the console then uses ``ENVMON_NOTIFY_URLS`` alone and says so in its log."""
    import logging

    from monitoring.notifications import NotificationConfigError, Notifier

    recorded = console.casework.escalate_overdue(now)
    try:
        notifier = Notifier(settings=console.settings)
    except NotificationConfigError as exc:
        logging.getLogger("envmon.console").warning("escalation messages: %s; using ENVMON_NOTIFY_URLS only", exc)
        notifier = Notifier(console.settings.notify_urls, settings=console.settings)
    report = notifier.notify_case_escalations(console.registry, now=now)
    for o in report.outcomes:
        if not o.ok:
            logging.getLogger("envmon.console").warning("escalation message for incident #%s to %s failed: %s "
                                                        "(re-sent by the next notification run)", o.incident_id,
                                                        o.channel, o.error)
    return recorded


@asynccontextmanager
async def _lifespan(api: FastAPI):
    """Start-up (:func:`_settle_memory`; under ``envmon serve`` also the chart process and, every
    :data:`PREWARM_EVERY_S`, the charts of open incidents drawn ahead) and, while the console runs, every ``escalate_every_s``
    (when set) the SLA check: record escalations of overdue handling stages
    (:meth:`monitoring.casework.Casework.escalate_overdue`; idempotent, so several workers do no harm)
    and send each escalation once (:func:`escalate_and_notify`)."""
    import asyncio
    import logging

    from starlette.concurrency import run_in_threadpool

    log = logging.getLogger("envmon.console")
    if api.state.settle_memory:
        from monitoring.console import charts

        await run_in_threadpool(_settle_memory)
        await run_in_threadpool(charts.start_pool)

    async def loop() -> None:
        while True:
            try:
                for inc, stage, level in await run_in_threadpool(escalate_and_notify, api.state.console):
                    log.warning("incident #%s: stage %s overdue, escalated to level %s", inc, stage, level)
            except Exception:
                log.exception("SLA escalation check failed")
            await asyncio.sleep(api.state.escalate_every_s)

    async def prewarm() -> None:
        from monitoring.console.routes.incidents import prewarm_charts

        while True:
            try:
                n = await run_in_threadpool(prewarm_charts, api.state.console)
                if n:
                    log.info("drew %d incident charts ahead", n)
            except Exception:
                log.exception("drawing incident charts ahead failed")
            await asyncio.sleep(PREWARM_EVERY_S)

    tasks = [asyncio.create_task(loop())] if api.state.escalate_every_s else []
    if api.state.settle_memory:
        tasks.append(asyncio.create_task(prewarm()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        if api.state.settle_memory:
            from monitoring.console import charts

            charts.stop_pool()


def create_fastapi(settings: Settings | None = None, escalate_every_s: float = ESCALATE_EVERY_S,
                   settle_memory: bool = False) -> FastAPI:
    """The FastAPI application alone (without the CSRF and header layers); see :func:`create_app`."""
    from monitoring.console.routes import (
        admin,
        auth,
        complaints,
        incidents,
        inspections,
        overview,
        points,
        public,
        reports,
        safety,
    )
    from monitoring.db import init_db

    settings = (settings or load_settings()).ensure_dirs()
    settings.evidence_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    init_db(settings.sql_url)
    api = FastAPI(title="envmon console", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=_lifespan)
    api.state.escalate_every_s = escalate_every_s
    api.state.settle_memory = settle_memory
    api.state.console = Console(settings, _templates())
    api.add_middleware(SessionMiddleware, secret_key=console_secret(settings), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=settings.console_https)
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, public, overview, incidents, safety, points, inspections, reports, complaints, admin):
        api.include_router(module.router)

    @api.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):
            return HTMLResponse("", status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @api.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        from monitoring.console.views import render
        return render(request, "error.html", {"title": "无权访问", "message": str(exc) or "您的角色无权访问此页面。"},
                      status_code=403)

    return api


def create_app(settings: Settings | None = None, escalate_every_s: float = ESCALATE_EVERY_S,
               settle_memory: bool = False) -> Any:
    """The console as one ASGI application. ``escalate_every_s`` = 0 turns the periodic SLA escalation
    off; ``settle_memory`` tunes the garbage collector at start-up (:func:`_settle_memory`: server
    processes only, never a test process)."""
    settings = settings or load_settings()
    api = create_fastapi(settings, escalate_every_s, settle_memory)
    protected = asgi_csrf(api, signing_secret=console_secret(settings), always_protect=_EveryPath(),
                          cookie_secure=settings.console_https, cookie_samesite="Lax",
                          send_csrf_failed=_csrf_failed)
    app = SecurityHeaders(SameOrigin(protected))
    app.fastapi = api  # type: ignore[attr-defined]  (tests and the route table read it)
    return app


def serve_app() -> Any:
    """What ``envmon serve`` runs in each uvicorn worker process (GC settled, charts drawn in a child
    process: :func:`monitoring.console.charts.start_pool`)."""
    return create_app(settle_memory=True)


__all__ = ["LOCAL_TZ", "Forbidden", "LoginRequired", "create_app", "create_fastapi"]
