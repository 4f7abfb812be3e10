"""The demo's people: a county editor, a city reviewer, a dispatcher token for local use,
and the case loop's dispatcher, department users and grid workers (:func:`case_people`).

Real users of the registry (``registry.app_user``) scoped to the demo's real divisions,
so the demo walks the same permission checks as a county would.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridgeo.errors import AuthenticationError, NotFoundError
from gridgeo.registry import tokens, users
from gridgeo.registry._db import Bind
from gridgeo.registry.divisions import register_division

log = logging.getLogger(__name__)

#: Names of the demo's divisions (the codes come from the demo data).
NAMES = {"63000": "臺北市", "63000030": "大安區", "10005": "苗栗縣", "10005090": "公館鄉"}
EDITOR, REVIEWER, DISPATCHER = "示例区县编辑 (demo)", "示例市审核 (demo)", "示例调度员 (demo)"
_BY = "gridgeo demo"


def _user(bind: Bind, name: str, role: str, division: str | None) -> users.Principal:
    try:
        found = users.get_principal(bind, name)
    except NotFoundError:
        return users.create_user(bind, name, role=role, division_code=division, by=_BY)
    if found.division_code != division:  # the other demo district: one user per division
        return _user(bind, f"{name} {division}", role, division)
    return found


def demo_people(bind: Bind, *, county: str, city: str) -> tuple[users.Principal, users.Principal]:
    """Register the city and county of a demo district and their editor and reviewer."""
    register_division(bind, city, NAMES.get(city, city), level="city")
    register_division(bind, county, NAMES.get(county, county), level="county", parent_code=city)
    return _user(bind, EDITOR, "county_editor", county), _user(
        bind, REVIEWER, "city_reviewer", city
    )


def case_people(bind: Bind) -> Callable[[str, dict[str, Any]], users.Principal]:
    """Who takes a loop step on a sample case, as registered users of the registry.

    Returns a function ``(role, case) → Principal``: the demo dispatcher; for role
    ``department`` a user of the case's routed department (``department_id``); for
    ``grid_worker`` a grid worker of the case's community (their division); for
    ``public`` the anonymous public. Users are registered on first use, once.
    """
    known: dict[tuple[str, Any], users.Principal] = {}
    public = users.Principal("示例居民 (demo)", "public", authenticated=False)

    def get(name: str, role: str, **kw: Any) -> users.Principal:
        try:
            return users.get_principal(bind, name)
        except NotFoundError:
            return users.create_user(bind, name, role=role, by=_BY, **kw)

    def who(role: str, case: dict[str, Any]) -> users.Principal:
        if role == "public":
            return public
        key: Any = None
        if role == "department":
            key = int(case["routed_department"])
        elif role == "grid_worker":
            key = case["community_code"]
        if (role, key) not in known:
            if role == "department":
                p = get(f"示例承办人 部门{key} (demo)", role, department_id=key)
            elif role == "grid_worker":
                p = get(f"示例网格员 {key} (demo)", role, division_code=key)
            else:
                p = _user(bind, DISPATCHER, role, None)
            known[(role, key)] = p
        return known[(role, key)]

    return who


def dispatcher_token(bind: Bind, home: Path) -> str:
    """A dispatcher token for local use, kept in ``home/demo/dispatcher.token`` (mode 600).

    The stored token is reused while it works; otherwise a new one is issued.
    """
    path = Path(home) / "demo" / "dispatcher.token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        try:
            tokens.authenticate(bind, token)
            return token
        except AuthenticationError:
            log.info("the stored demo dispatcher token no longer works: issuing a new one")
    issued = tokens.issue_token(bind, DISPATCHER, name="demo (local)", by=_BY, role="dispatcher")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(issued.token + "\n")
    return issued.token
