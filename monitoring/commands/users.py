"""``envmon users``: console accounts. Passwords only from stdin; no default password exists."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitoring.config import load_settings

app = typer.Typer(help="控制台用户 (console users): add, list, disable.", no_args_is_help=True)


def _fail(message: object) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option("--role", help="operator | inspector | leader | admin")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin "
                                                 "(first line)")] = False,
    display_name: Annotated[str, typer.Option("--display-name", help="name shown in the console")] = "",
    inspector_id: Annotated[str | None, typer.Option("--inspector-id", help="inspector directory id "
                                                     "(role inspector)")] = None,
) -> None:
    """Create a user. The password is read from stdin (never from the command line)."""
    from monitoring.console.users import UserError, add_user
    if not password_stdin:
        _fail("give the password on stdin with --password-stdin (it is never taken from the command line)")
    line = sys.stdin.readline()
    password = line.removesuffix("\n")
    password = password.removesuffix("\r")
    try:
        user = add_user(load_settings().ensure_dirs().sql_url, name, role=role, password=password,
                        display_name=display_name, inspector_id=inspector_id)
    except UserError as exc:
        _fail(exc)
        return
    typer.echo(f"user {user.name} added ({user.role})")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users (never their hashes)."""
    import json

    from monitoring.console.users import list_users
    from monitoring.incidents import fmt_local
    users = list_users(load_settings().ensure_dirs().sql_url)
    if as_json:
        typer.echo(json.dumps([{"name": u.name, "display_name": u.display_name, "role": u.role, "active": u.active,
                                     "inspector_id": u.inspector_id,
                                     "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
                               for u in users], ensure_ascii=False, indent=2))
        return
    table = Table(title="控制台用户")
    for col in ("用户名", "姓名", "角色", "状态", "最近登录"):
        table.add_column(col)
    for u in users:
        table.add_row(u.name, u.display_name, f"{u.role} {u.role_zh}", "启用" if u.active else "已停用",
                      fmt_local(u.last_login_at) if u.last_login_at else "")
    Console(width=160).print(table)


@app.command()
def disable(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Disable a user (open sessions stop working at their next request)."""
    from monitoring.console.users import UserError, disable_user
    try:
        disable_user(load_settings().ensure_dirs().sql_url, name)
    except UserError as exc:
        _fail(exc)
        return
    typer.echo(f"user {name} disabled")
