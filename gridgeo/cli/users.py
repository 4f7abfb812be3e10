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
from gridgeo.i18n import _
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
            _(
                "a token is needed: set GRIDGEO_TOKEN or use --token "
                "(an administrator issues one with gridgeo tokens create)"
            )
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
            _(
                "without a token only the database owner may manage tokens; "
                "use an administrator's token (--token)"
            )
        )
    return f"数据库所有者 {getpass.getuser()}"


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            _(
                "--expires {value} is not a date or time "
                "(e.g. 2027-06-30 or 2027-06-30T18:00+08:00)"
            ).format(value=repr(value)),
            [Problem(_("not an ISO date"), field="expires", rule="cli.expires")],
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
        where += " " + _("department {id}").format(id=issued.department_id)
    expiry = (
        _("expires {when}").format(when=f"{issued.expires_at:%Y-%m-%d %H:%M}")
        if issued.expires_at
        else _("never expires")
    )
    console.print(
        _("token {id} ({name}) issued to {user} ({role}{where}), {expiry}").format(
            id=issued.token_id,
            name=issued.name or _("unnamed"),
            user=issued.user,
            role=issued.role,
            where=where,
            expiry=expiry,
        )
    )
    console.print(_("shown this once only, keep it safe:"))
    console.print(issued.token, soft_wrap=True)


@tokens_app.command("list")
@handle_errors
def list_(token: str = _TOKEN) -> None:
    """List tokens: id, name, user, role, division, expiry and state (never the secret)."""
    url = _url()
    _admin_or_owner(url, token)
    df = tokens.list_tokens(url)
    table = Table()
    table.add_column("id", overflow="fold")
    for header in ("name", "user", "role", "division", "created", "expires", "state"):
        table.add_column(_(header), overflow="fold")  # codes and names never truncated
    for r in df.itertuples():
        table.add_row(
            str(r.token_id),
            r.name,
            r.user,
            r.role,
            (r.division_code if isinstance(r.division_code, str) else "")
            + (
                " " + _("department {id}").format(id=int(r.department_id))
                if pd.notna(r.department_id)
                else ""
            ),
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
    console.print(_("token {id} revoked").format(id=token_id))


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
    console.print(
        _("division {code} {name} ({level}) registered").format(code=code, name=name, level=level)
        + (_(", parent {parent}").format(parent=parent) if parent else "")
    )
