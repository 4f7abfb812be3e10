"""``gridgeo tokens …`` and ``gridgeo divisions add``: who may act, and where.

The first administrator's token is created on the machine that owns the database: with
no token given, ``gridgeo tokens create`` works only for the database owner (the
private instance's role). Everything else needs an administrator's token.
"""

from __future__ import annotations

import getpass
from datetime import datetime

import pandas as pd
import typer
from rich.table import Table

from gridgeo import registry
from gridgeo.cli._common import console, handle_errors
from gridgeo.errors import AuthenticationError, InputError, PermissionDeniedError, Problem
from gridgeo.registry import tokens, users
from gridgeo.settings import get_settings

tokens_app = typer.Typer(
    help="Tokens: create (shown once), list, revoke. A token authenticates one user.",
    no_args_is_help=True,
)
divisions_app = typer.Typer(
    help="Divisions: register a province, city, county or street (the scopes of users).",
    no_args_is_help=True,
)

_TOKEN = typer.Option(
    None, "--token", help="Your token (default $GRIDGEO_TOKEN); you act as its user."
)


def _url() -> str:
    from gridgeo.database.lifecycle import ensure_ready

    return ensure_ready(get_settings()).url


def principal(url: str, token: str | None) -> registry.Principal:
    """The user authenticated by ``token`` (else ``GRIDGEO_TOKEN``).

    Raises
    ------
    AuthenticationError
        Without a token, or for an unknown, revoked or expired one.
    """
    if not token:
        secret = get_settings().token
        token = secret.get_secret_value() if secret is not None else None
    if not token:
        raise AuthenticationError(
            "需要令牌：设置 GRIDGEO_TOKEN 或使用 --token（管理员用 gridgeo tokens create 发放）"
        )
    return tokens.authenticate(url, token)


def _admin_or_owner(url: str, token: str | None) -> str:
    """Who manages users: an administrator's token, or (without any token) the database owner."""
    secret = get_settings().token
    if token or secret is not None:
        me = principal(url, token)
        me.require("tokens.admin")
        return me.name
    if not users.is_database_owner(url):
        raise PermissionDeniedError(
            "没有令牌时只有数据库所有者可以管理令牌；请使用管理员令牌（--token）"
        )
    return f"数据库所有者 {getpass.getuser()}"


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--expires {value!r} 不是日期或时间（例如 2027-06-30 或 2027-06-30T18:00+08:00）",
            [Problem("不是 ISO 日期", field="expires", rule="cli.expires")],
        ) from None
    return dt if dt.tzinfo else dt.astimezone()


@tokens_app.command("create")
@handle_errors
def create(
    user: str = typer.Option(..., "--user", help="Who holds the token (registered or new)."),
    role: str = typer.Option(None, "--role", help=f"Role of a new user: {', '.join(users.ROLES)}."),
    division: str = typer.Option(
        None,
        "--division",
        help="Registered division of a new user (county, city, province; a grid worker's "
        "community; a department user's county, optional).",
    ),
    department_id: int = typer.Option(
        None, "--department-id", help="A new department user's department (gridgeo departments)."
    ),
    name: str = typer.Option("", "--name", help="What the token is for (kept and listed)."),
    expires: str = typer.Option(None, "--expires", help="Expiry date/time (default: never)."),
    token: str = _TOKEN,
) -> None:
    """Create a token for a user (the secret is printed once; only its hash is stored)."""
    url = _url()
    by = _admin_or_owner(url, token)
    issued = tokens.issue_token(
        url,
        user,
        name=name,
        by=by,
        role=role,
        division_code=division,
        department_id=department_id,
        expires_at=_when(expires),
    )
    where = f" {issued.division_code}" if issued.division_code else ""
    if issued.department_id is not None:
        where += f" 部门 {issued.department_id}"
    console.print(
        f"令牌 {issued.token_id}（{issued.name or '未命名'}）发给 {issued.user}"
        f"（{issued.role}{where}），"
        + (f"{issued.expires_at:%Y-%m-%d %H:%M} 过期" if issued.expires_at else "不过期")
    )
    console.print("只显示这一次，请妥善保存：")
    console.print(issued.token, soft_wrap=True)


@tokens_app.command("list")
@handle_errors
def list_(token: str = _TOKEN) -> None:
    """List tokens: id, name, user, role, division, expiry and state (never the secret)."""
    url = _url()
    _admin_or_owner(url, token)
    df = tokens.list_tokens(url)
    table = Table()
    for header in ("id", "名称", "用户", "角色", "区划", "创建", "过期", "状态"):
        table.add_column(header, overflow="fold")  # codes and names never truncated
    for r in df.itertuples():
        table.add_row(
            str(r.token_id),
            r.name,
            r.user,
            r.role,
            (r.division_code if isinstance(r.division_code, str) else "")
            + (f" 部门 {int(r.department_id)}" if pd.notna(r.department_id) else ""),
            f"{r.created_at:%Y-%m-%d}",
            f"{r.expires_at:%Y-%m-%d}" if pd.notna(r.expires_at) else "",
            r.state,
        )
    console.print(table)


@tokens_app.command("revoke")
@handle_errors
def revoke(
    token_id: int = typer.Argument(..., help="Token id (from gridgeo tokens list)."),
    token: str = _TOKEN,
) -> None:
    """Revoke a token: it is refused from now on (the API within its token cache time)."""
    url = _url()
    tokens.revoke_token(url, token_id, by=_admin_or_owner(url, token))
    console.print(f"令牌 {token_id} 已吊销")


@divisions_app.command("add")
@handle_errors
def add(
    code: str = typer.Argument(..., help="Official division code."),
    name: str = typer.Argument(..., help="Division name."),
    level: str = typer.Option(..., "--level", help="province, city, county or street."),
    parent: str = typer.Option(None, "--parent", help="Code of the division it belongs to."),
    token: str = _TOKEN,
) -> None:
    """Register a division (or set its name and parent), e.g. a city and its counties."""
    url = _url()
    _admin_or_owner(url, token)
    registry.register_division(url, code, name, level=level, parent_code=parent)
    console.print(f"区划 {code} {name}（{level}）已登记" + (f"，上级 {parent}" if parent else ""))
