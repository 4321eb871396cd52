"""``/console/users`` — accounts (admin only). Passwords are typed by the admin, never generated/shown."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from monitoring.console.users import ROLES, User, UserError, add_user, disable_user, list_users
from monitoring.console.views import ADMIN, console, render, require

router = APIRouter(prefix="/console/users")


def _page(request: Request, error: str | None = None, status_code: int = 200):
    return render(request, "users.html", {"users": list_users(console(request).sql_url), "roles": ROLES,
                                          "error": error}, status_code=status_code)


@router.get("")
def users_page(request: Request, user: User = Depends(require(*ADMIN))):
    return _page(request)


@router.post("")
def users_add(request: Request, name: str = Form(...), role: str = Form(...), password: str = Form(...),
              display_name: str = Form(""), inspector_id: str = Form(""), user: User = Depends(require(*ADMIN))):
    try:
        add_user(console(request).sql_url, name, role=role, password=password, display_name=display_name,
                 inspector_id=inspector_id.strip() or None)
    except UserError as exc:
        return _page(request, str(exc), 409)
    return RedirectResponse("/console/users", status_code=303)


@router.post("/{name}/disable")
def users_disable(request: Request, name: str, user: User = Depends(require(*ADMIN))):
    if name == user.name:
        return _page(request, "不能停用自己的账号。", 409)
    try:
        disable_user(console(request).sql_url, name)
    except UserError as exc:
        return _page(request, str(exc), 409)
    return RedirectResponse("/console/users", status_code=303)
