"""``/`` · ``/login`` · ``/logout`` · ``/healthz``."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text

from monitoring.console.users import LoginThrottled, authenticate
from monitoring.console.views import console, current_user, render

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only local console paths (no open redirect to another site)."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console/"


@router.get("/")
def root(request: Request):
    return RedirectResponse("/console/" if current_user(request) else "/public/", status_code=303)


@router.get("/healthz")
def healthz(request: Request):
    from monitoring.db import get_engine
    try:
        with get_engine(console(request).sql_url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - the health answer names the failure
        return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)
    return {"status": "ok"}


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    if current_user(request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/console/")):
    client = request.client.host if request.client else None
    try:
        user = authenticate(console(request).sql_url, username, password, client=client)
    except LoginThrottled as exc:
        return render(request, "login.html", {"next": _safe_next(next), "username": username,
                                              "error": f"登录失败次数过多，请 {exc.retry_after // 60 + 1} 分钟后再试。"},
                      status_code=429)
    if user is None:
        return render(request, "login.html", {"next": _safe_next(next), "username": username,
                                              "error": "用户名或密码错误，或账号已停用。"}, status_code=401)
    request.session.clear()
    request.session["u"] = user.name
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
