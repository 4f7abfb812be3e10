"""What a public noticeboard posts, as it stood on any date.

The registry keeps, versioned in time like the grids (``sql/migrations/0085_posting.sql``):
the supervision phone (监督电话) of a county or street, each role's duties (职责) per
profile, and the posting date (公示日期) of each community. A setter closes the current
row and opens a new one in one transaction, and writes the audit log; nothing is ever
updated in place, so :func:`board_facts` answers for any past date.

Default duties per profile come from ``gridgeo/profiles/posting/<profile>.toml``
(quoting the regulation) until the registry holds an edited text.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import text

from gridgeo.errors import InputError, NotFoundError, ProfileError
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.assignments import STAFF_ROLES, contacts_at
from gridgeo.registry.divisions import require_within
from gridgeo.registry.history import grids_at
from gridgeo.registry.users import Principal
from gridgeo.rules import default_profile_name

log = logging.getLogger(__name__)

#: Role names as posted (Simplified Chinese).
ROLE_NAMES = {
    "head": "网格长",
    "full_time": "专职网格员",
    "part_time": "兼职网格员",
    "professional": "专业网格员",
}

_PHONE = re.compile(r"^[0-9][0-9 ()+-]{2,31}$")
_CODE = re.compile(r"^[0-9A-Za-z]{2,20}$")


@dataclass(frozen=True)
class Duties:
    """The duties text of one role, and where it comes from."""

    role: str
    text: str
    source: str
    edited: bool  # True: from the registry; False: the profile's default


@dataclass
class BoardFacts:
    """Everything a community's board posts, as the registry stood at ``at``.

    ``grids`` (registry CRS) carries no household or population column; ``contacts``
    only the posted contacts (``grid_code, role, person_name, phone``).
    """

    community_code: str
    community_name: str
    parent_code: str | None
    parent_name: str | None
    at: datetime | None
    version_date: datetime | None
    grids: gpd.GeoDataFrame
    contacts: pd.DataFrame
    supervision_phone: str | None
    supervision_label: str
    duties: list[Duties] = field(default_factory=list)
    posted_on: date | None = None
    neighbours: gpd.GeoDataFrame | None = None  # other communities' grids touching this one


def default_duties(profile: str) -> tuple[dict[str, str], str]:
    """The profile's default duties per role and the article they quote.

    Raises
    ------
    ProfileError
        When the profile has no posting file.
    """
    name = f"{profile}.toml"
    node = resources.files("gridgeo.profiles") / "posting" / name
    if not node.is_file():
        raise ProfileError(
            _("profile {profile!r} has no posting defaults (profiles/posting/{name})").format(
                profile=profile, name=name
            )
        )
    data = tomllib.loads(node.read_text(encoding="utf-8"))
    duties = {r: str(t) for r, t in data.get("duties", {}).items() if r in STAFF_ROLES}
    return duties, str(data.get("source", ""))


def _require_division_editor(conn, actor: Principal, codes: list[str]) -> None:
    """Posting data of a division is set by editors and reviewers whose division holds it
    (by the registry's hierarchy; a community not registered yet by its code's prefix)."""
    actor.require("posting.edit")
    outside = [c for c in codes if not actor.covers(c)]
    if outside and actor.division_code:
        require_within(conn, actor.division_code, outside)


def _audit(conn, actor: Principal, action: str, detail: dict[str, Any]) -> None:
    conn.execute(
        text("SELECT registry.append_audit(:a, :r, :act, NULL, NULL, CAST(:d AS jsonb))"),
        {
            "a": actor.name,
            "r": actor.role,
            "act": action,
            "d": json.dumps(detail, ensure_ascii=False, default=str),
        },
    )


def set_supervision_phone(
    bind: Bind, division_code: str, phone: str, *, actor: Principal, label: str = ""
) -> None:
    """Set the supervision phone of a county or street from now on.

    Parameters
    ----------
    division_code
        The county's or street's code; it applies to every community whose code starts
        with it, or whose parent division it is.
    phone
        Digits, spaces, ``+ - ( )``; e.g. ``0746-12345``.
    label
        Who answers, e.g. ``区网格化服务管理中心``.

    Raises
    ------
    InputError
        For a malformed code or phone, or a code no community belongs to.
    PermissionDeniedError
        For an editor outside the division.
    """
    code, phone = str(division_code).strip(), str(phone).strip()
    if not _CODE.match(code):
        raise InputError(
            _("division code {code!r} is not a county or street code").format(code=code)
        )
    if not _PHONE.match(phone):
        raise InputError(
            _("supervision phone {phone!r} is not a phone number (digits, + - ( ) )").format(
                phone=phone
            )
        )
    with transaction(bind) as conn:
        _require_division_editor(conn, actor, [code])
        known = conn.execute(
            text(
                "SELECT count(*) FROM registry.divisions WHERE level = 'community' "
                "AND (code LIKE :c || '%' OR parent_code = :c)"
            ),
            {"c": code},
        ).scalar()
        if not known:
            raise InputError(
                _("no community in the registry belongs to division {code}").format(code=code)
            )
        conn.execute(
            text(
                "UPDATE registry.supervision_phone SET valid_to = clock_timestamp() "
                "WHERE division_code = :c AND valid_to IS NULL"
            ),
            {"c": code},
        )
        conn.execute(
            text(
                "INSERT INTO registry.supervision_phone (division_code, phone, label, set_by) "
                "VALUES (:c, :p, :l, :a)"
            ),
            {"c": code, "p": phone, "l": str(label).strip(), "a": actor.name},
        )
        _audit(conn, actor, "supervision_phone", {"division": code, "phone": phone})
    log.info("supervision phone of %s set (%d communities)", code, known)


def current_supervision_phone(bind: Bind, division_code: str) -> str | None:
    """The supervision phone set for exactly ``division_code`` now, or ``None``."""
    with transaction(bind) as conn:
        return conn.execute(
            text(
                "SELECT phone FROM registry.supervision_phone "
                "WHERE division_code = :c AND valid_to IS NULL"
            ),
            {"c": str(division_code)},
        ).scalar()


def registry_stamp(bind: Bind) -> str:
    """A value that changes whenever anything a board shows may have changed (the last
    audit log entry: every accepted change set, staff change and posting setter writes one).

    Entries no board shows are left out: tokens and user accounts being issued or revoked
    and refused attempts (the demo's incidents, patrol tracks and people steps write those).
    """
    with transaction(bind) as conn:
        last = conn.execute(
            text(
                "SELECT max(audit_id) FROM registry.audit_log "
                "WHERE action NOT LIKE 'token\\_%' AND action NOT LIKE 'user\\_%' "
                "AND action NOT LIKE '%\\_refused'"
            )
        ).scalar()
    return str(last or 0)


def set_duties(
    bind: Bind, profile: str, role: str, duties: str, *, actor: Principal, source: str = ""
) -> None:
    """Replace the posted duties of a role under a profile from now on (city or admin).

    Raises
    ------
    InputError
        For an unknown role or an empty text.
    PermissionDeniedError
        For county editors (duties are set for the whole profile's area).
    """
    if role not in STAFF_ROLES:
        raise InputError(
            _("role {role!r} is not one of {value}").format(role=role, value=", ".join(STAFF_ROLES))
        )
    body = str(duties or "").strip()
    if not body:
        raise InputError(_("the duties text is empty"))
    default_duties(profile)  # the profile must exist
    actor.require("posting.duties")
    with transaction(bind) as conn:
        conn.execute(
            text(
                "UPDATE registry.role_duties SET valid_to = clock_timestamp() "
                "WHERE profile = :p AND role = :r AND valid_to IS NULL"
            ),
            {"p": profile, "r": role},
        )
        conn.execute(
            text(
                "INSERT INTO registry.role_duties (profile, role, duties, source, set_by) "
                "VALUES (:p, :r, :d, :s, :a)"
            ),
            {"p": profile, "r": role, "d": body, "s": str(source).strip(), "a": actor.name},
        )
        _audit(conn, actor, "role_duties", {"profile": profile, "role": role})


def record_posting(
    bind: Bind, community_codes: list[str], posted_on: date, *, actor: Principal, note: str = ""
) -> int:
    """Record the posting date of communities' boards from now on; returns how many.

    Raises
    ------
    NotFoundError
        When a code is not a community of the registry (nothing is written).
    """
    codes = sorted({str(c) for c in community_codes})
    with transaction(bind) as conn:
        _require_division_editor(conn, actor, codes)
        found = set(
            conn.execute(
                text(
                    "SELECT code FROM registry.divisions WHERE level = 'community' "
                    "AND code = ANY(:c)"
                ),
                {"c": codes},
            ).scalars()
        )
        missing = [c for c in codes if c not in found]
        if missing:
            raise NotFoundError(
                _("not communities of the registry: {value}").format(value=", ".join(missing[:10]))
            )
        conn.execute(
            text(
                "UPDATE registry.posting SET valid_to = clock_timestamp() "
                "WHERE community_code = ANY(:c) AND valid_to IS NULL"
            ),
            {"c": codes},
        )
        conn.execute(
            text(
                "INSERT INTO registry.posting (community_code, posted_on, note, set_by) "
                "SELECT c, :d, :n, :a FROM unnest(CAST(:c AS text[])) AS c"
            ),
            {"c": codes, "d": posted_on, "n": note, "a": actor.name},
        )
        _audit(conn, actor, "posting", {"communities": len(codes), "posted_on": posted_on})
    return len(codes)


def communities(bind: Bind, prefix: str | None = None) -> pd.DataFrame:
    """Communities of the registry (``code, name, parent_code, parent_name``), by code.

    ``prefix`` keeps those whose code starts with it or whose parent it is (a county or
    street code).
    """
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT c.code, c.name, c.parent_code, p.name FROM registry.divisions c "
                "LEFT JOIN registry.divisions p ON p.code = c.parent_code "
                "WHERE c.level = 'community' AND (CAST(:p AS text) IS NULL "
                "OR c.code LIKE :p || '%' OR c.parent_code = :p) ORDER BY c.code"
            ),
            {"p": prefix},
        ).all()
    return pd.DataFrame(rows, columns=["code", "name", "parent_code", "parent_name"])


def _duties_at(conn, profile: str, at: datetime | None) -> list[Duties]:
    defaults, source = default_duties(profile)
    rows = conn.execute(
        text(
            "SELECT role, duties, source FROM "
            "registry.role_duties_at(:p, coalesce(CAST(:at AS timestamptz), now()))"
        ),
        {"p": profile, "at": at},
    ).all()
    edited = {r: Duties(r, d, s, True) for r, d, s in rows}
    return [
        edited.get(r) or Duties(r, defaults[r], source, False)
        for r in STAFF_ROLES
        if r in edited or r in defaults
    ]


def board_facts(
    bind: Bind,
    community_codes: list[str],
    *,
    at: datetime | None = None,
    profile: str | None = None,
) -> list[BoardFacts]:
    """The facts each community's board posts, as the registry stood at ``at``.

    Reads the registry's contract functions (``grids_at``, ``grid_contacts_at``,
    ``supervision_phone_at``, ``role_duties_at``, ``posting_at``) once for all the
    communities. Only posted contacts are kept; household and population counts are
    dropped here, so no board or public page can show them.

    Raises
    ------
    NotFoundError
        For a code that is not a community of the registry, or one with no grid at ``at``.
    """
    codes = [str(c) for c in community_codes]
    with transaction(bind) as conn:
        divs = {
            r[0]: r[1:]
            for r in conn.execute(
                text(
                    "SELECT c.code, c.name, c.parent_code, p.name FROM registry.divisions c "
                    "LEFT JOIN registry.divisions p ON p.code = c.parent_code "
                    "WHERE c.level = 'community' AND c.code = ANY(:c)"
                ),
                {"c": codes},
            ).all()
        }
        missing = [c for c in codes if c not in divs]
        if missing:
            raise NotFoundError(
                _("not communities of the registry: {value}").format(value=", ".join(missing[:10]))
            )
        phones = {
            c: conn.execute(
                text(
                    "SELECT phone, label FROM registry.supervision_phone_at(:c, "
                    "coalesce(CAST(:at AS timestamptz), now()))"
                ),
                {"c": c, "at": at},
            ).first()
            for c in codes
        }
        posted = dict(
            conn.execute(
                text(
                    "SELECT community_code, posted_on FROM "
                    "registry.posting_at(coalesce(CAST(:at AS timestamptz), now())) "
                    "WHERE community_code = ANY(:c)"
                ),
                {"c": codes, "at": at},
            ).all()
        )
        duties = _duties_at(conn, profile or default_profile_name(), at)
        grids = grids_at(conn, at)
        contacts = contacts_at(conn, at)
    contacts = contacts[contacts["posted"].astype(bool)].drop(columns="posted")
    grids = grids.drop(columns=["households", "population"])
    out = []
    for c in codes:
        g = grids[grids["community_code"] == c].reset_index(drop=True)
        if g.empty:
            raise NotFoundError(
                _("community {c} has no grid in the registry at {value}").format(
                    c=c, value=at or "now"
                )
            )
        name, parent, parent_name = divs[c]
        near = grids.iloc[grids.sindex.query(g.geometry.union_all().buffer(2.0), "intersects")]
        near = near[near["community_code"] != c]
        phone = phones[c]
        out.append(
            BoardFacts(
                community_code=c,
                community_name=name,
                parent_code=parent,
                parent_name=parent_name,
                at=at,
                version_date=pd.Timestamp(g["valid_from"].max()).to_pydatetime(),
                grids=g,
                contacts=contacts[contacts["grid_code"].isin(g["grid_code"])].reset_index(
                    drop=True
                ),
                supervision_phone=phone[0] if phone else None,
                supervision_label=phone[1] if phone else "",
                duties=duties,
                posted_on=posted.get(c),
                neighbours=near[["grid_code", "community_code", "community_name", "geometry"]],
            )
        )
    log.info("board facts for %d communities at %s", len(out), at or "now")
    return out
