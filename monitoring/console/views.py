"""Shared by the routers: the current user and role checks, template rendering and filters.

Role permissions (issue 12): a route names the roles that may use it with :func:`require`; the table
of every route × role is tested in ``tests/monitoring/console/test_authorisation.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from limits.loader import CHECK_ZH, STATUS_ZH
from monitoring.config import LOCAL_TZ
from monitoring.console.users import User, get_active_user

#: who may do what (role names from monitoring.console.users.ROLES)
READ = ("operator", "inspector", "leader")          # overview, incidents, points
READ_OFFICE = ("operator", "leader")                 # complaints (personal data), reports
HANDLE = ("operator",)                               # incident decisions, complaints handling, draws
RECORD_RESULTS = ("operator", "inspector")           # inspection results (inspector: own tasks)
ADMIN = ("admin",)


def console(request: Request):
    return request.app.state.console


def current_user(request: Request) -> User | None:
    """The logged-in, still active user of this request (None for anonymous or disabled)."""
    try:
        return request.state.user          # looked up once per request
    except AttributeError:
        pass
    user = None
    name = request.session.get("u") if "session" in request.scope else None
    if name:
        user = get_active_user(console(request).sql_url, name)
        if user is None:
            request.session.clear()
    request.state.user = user
    return user


class LoginRequired(Exception):
    """Raised by :func:`require` without a logged-in user; the app redirects to the login page."""


class Forbidden(Exception):
    """Raised by :func:`require` when the user's role may not do this; the app answers 403."""


def require(*roles: str) -> Callable[[Request], User]:
    """A dependency: the user, when logged in with one of ``roles``; else login redirect / 403."""
    def dependency(request: Request) -> User:
        user = current_user(request)
        if user is None:
            raise LoginRequired()
        if user.role not in roles:
            raise Forbidden(f"角色「{user.role_zh}」无权执行此操作。")
        return user

    dependency.roles = roles  # type: ignore[attr-defined]
    return dependency


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    ctx = dict(context or {})
    ctx.setdefault("user", current_user(request))
    csrf = request.scope.get("csrftoken")
    ctx["csrftoken"] = csrf() if callable(csrf) else ""
    ctx.setdefault("zone_names", {z.id: z.name_zh for z in console(request).registry.zones.values()})
    return console(request).templates.TemplateResponse(request, template, ctx, status_code=status_code)


# ---------------------------------------------------------------------------------------------------
# template filters: everything a person reads is Asia/Shanghai
# ---------------------------------------------------------------------------------------------------
def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        from datetime import UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def isotime(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO 8601 text (as JSON records hold times) in local time."""
    if not value:
        return "—"
    try:
        return local(datetime.fromisoformat(value), fmt)
    except ValueError:
        return str(value)


def num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{int(seconds // 60)} 分钟"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} 小时"
    return f"{seconds / 86400:.1f} 天"


def check_zh(check: str | None) -> str:
    """A ``check`` code as people read it (:data:`limits.loader.CHECK_ZH`; an unknown one as it is)."""
    return CHECK_ZH.get(check or "", check or "—")


def status_zh(status: str | None) -> str:
    """A limit's source status as people read it (:data:`limits.loader.STATUS_ZH`)."""
    return STATUS_ZH.get(status or "", status or "—")


def register_filters(env: Any) -> None:
    env.filters["local"] = local
    env.filters["num"] = num
    env.filters["isotime"] = isotime
    env.filters["duration"] = duration
    env.filters["check_zh"] = check_zh
    env.filters["status_zh"] = status_zh


#: route parameters: ``user: Reader`` etc. (the user, after the role check)
Reader = Annotated[User, Depends(require(*READ))]
OfficeReader = Annotated[User, Depends(require(*READ_OFFICE))]
Handler = Annotated[User, Depends(require(*HANDLE))]
ResultRecorder = Annotated[User, Depends(require(*RECORD_RESULTS))]
Admin = Annotated[User, Depends(require(*ADMIN))]
