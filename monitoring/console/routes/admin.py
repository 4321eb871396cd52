"""``/console/users`` — accounts (admin only). Passwords are typed by the admin, never generated/shown."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from monitoring.console.users import ROLES, UserError, add_user, disable_user, list_users
from monitoring.console.views import Admin, console, render

router = APIRouter(prefix="/console/users")


def _page(request: Request, error: str | None = None, status_code: int = 200):
    return render(request, "users.html", {"users": list_users(console(request).sql_url), "roles": ROLES,
                                          "error": error}, status_code=status_code)


@router.get("")
def users_page(request: Request, user: Admin):
    return _page(request)


@router.post("")
def users_add(request: Request, user: Admin, name: str = Form(...), role: str = Form(...), password: str = Form(...),
              display_name: str = Form(""), inspector_id: str = Form("")):
    try:
        add_user(console(request).sql_url, name, role=role, password=password, display_name=display_name,
                 inspector_id=inspector_id.strip() or None)
    except UserError as exc:
        return _page(request, str(exc), 409)
    return RedirectResponse("/console/users", status_code=303)


@router.post("/{name}/disable")
def users_disable(request: Request, user: Admin, name: str):
    if name == user.name:
        return _page(request, "不能停用自己的账号。", 409)
    try:
        disable_user(console(request).sql_url, name)
    except UserError as exc:
        return _page(request, str(exc), 409)
    return RedirectResponse("/console/users", status_code=303)
