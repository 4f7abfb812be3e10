"""Which profile each county files under: set by an administrator, versioned in time.

A binding names a division code (a county, or a prefix covering several counties),
the profile (a shipped name, see :func:`gridgeo.rules.available_profiles`), an optional
community code pattern and an optional explicit receiving division. Filing uses the
binding valid at that moment with the longest matching code (the county's own beats
its city's or province's); a county with none cannot file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import ConflictError, PermissionDeniedError
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.routing import receiving_division
from gridgeo.registry.users import Principal
from gridgeo.rules import Profile, default_profile_name, load_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Binding:
    """A county's profile binding as valid at one moment."""

    division_code: str
    profile: str
    code_pattern: str | None
    receiver_code: str | None
    valid_from: datetime
    set_by: str

    def load(self) -> Profile:
        """The bound profile, with the bound code pattern applied."""
        return load_profile(self.profile).with_code_pattern(self.code_pattern)

    def receiver(self, county_code: str) -> str:
        """The division that receives ``county_code``'s filings (profile's filing level)."""
        return receiving_division(
            county_code, self.load().filing_level, override=self.receiver_code
        )


def bind_profile(
    bind: Bind,
    division_code: str,
    profile: str,
    *,
    actor: Principal,
    code_pattern: str | None = None,
    receiver_code: str | None = None,
    reason: str = "",
) -> Binding:
    """Bind ``division_code`` to ``profile`` from now on (closing its current binding).

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is an administrator.
    ProfileError
        When ``profile`` is unknown or ``code_pattern`` is not a regex.
    InputError
        When ``receiver_code`` does not contain a county code of the binding.
    """
    if actor.role != "admin":
        raise PermissionDeniedError(
            _("{name} is not an administrator: only administrators bind profiles").format(
                name=actor.name
            )
        )
    code = str(division_code).strip()
    prof = load_profile(profile).with_code_pattern(code_pattern)  # refuses unknown names
    if receiver_code:
        receiving_division(code, prof.filing_level, override=receiver_code)
    with transaction(bind) as conn:
        # concurrent bindings of one division take turns (one current binding each)
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('gridgeo.profile_binding:' || :c))"),
            {"c": code},
        )
        conn.execute(
            text(
                "UPDATE registry.profile_binding SET valid_to = clock_timestamp() "
                "WHERE division_code = :c AND valid_to IS NULL"
            ),
            {"c": code},
        )
        conn.execute(
            text(
                "INSERT INTO registry.profile_binding "
                "(division_code, profile, code_pattern, receiver_code, set_by, reason) "
                "VALUES (:c, :p, :pat, :r, :by, :why)"
            ),
            {
                "c": code,
                "p": prof.name,
                "pat": code_pattern,
                "r": receiver_code,
                "by": actor.name,
                "why": reason,
            },
        )
        conn.execute(
            text(
                "SELECT registry.append_audit(:a, :r, 'bind_profile', NULL, :why, "
                "jsonb_build_object('division', CAST(:c AS text), 'profile', CAST(:p AS text)))"
            ),
            {"a": actor.name, "r": actor.role, "why": reason or None, "c": code, "p": prof.name},
        )
        found = _bound(conn, code)
    log.info("bound division %s to profile %s", code, prof.name)
    assert found is not None
    return found


def _bound(conn: Connection, county_code: str, at: datetime | None = None) -> Binding | None:
    row = conn.execute(
        text(
            "SELECT division_code, profile, code_pattern, receiver_code, valid_from, set_by "
            "FROM registry.profile_binding "
            "WHERE CAST(:code AS text) LIKE division_code || '%' "
            "AND valid_from <= coalesce(CAST(:at AS timestamptz), clock_timestamp()) "
            "AND coalesce(CAST(:at AS timestamptz), clock_timestamp()) "
            "    < coalesce(valid_to, 'infinity') "
            "ORDER BY length(division_code) DESC LIMIT 1"
        ),
        {"code": str(county_code), "at": at},
    ).one_or_none()
    return Binding(*row) if row else None


def bound_profile(bind: Bind, county_code: str, *, at: datetime | None = None) -> Binding:
    """The binding that applies to ``county_code`` (now, or at ``at``).

    Raises
    ------
    ConflictError
        When no binding covers the county: an administrator must bind it first.
    """
    with transaction(bind) as conn:
        found = _bound(conn, county_code, at)
    if found is None:
        raise ConflictError(require_binding_message(county_code))
    return found


def profile_for(
    bind: Bind, county_code: str | None, profile: str | Profile | None = None
) -> str | Profile:
    """The profile to check ``county_code`` against.

    ``profile`` when given; else the county's bound profile (with its code pattern);
    else (no county, or none bound) the default profile
    (:func:`gridgeo.rules.default_profile_name`, setting ``GRIDGEO_PROFILE``).
    """
    if profile:
        return profile
    if county_code:
        with transaction(bind) as conn:
            found = _bound(conn, county_code)
        if found is not None:
            return found.load()
    return default_profile_name()


def drafting_profile(
    bind: Bind,
    county_code: str,
    *,
    profile: str | Profile | None = None,
    code_pattern: str | None = None,
) -> Profile:
    """The profile and code scheme a county drafts with (load, repartition).

    The county's binding decides, so no command needs ``--code-pattern``: an explicit
    ``profile`` replaces the bound profile, an explicit ``code_pattern`` the bound
    pattern; a county without a binding drafts with the default profile
    (``GRIDGEO_PROFILE``) and its 12-digit codes (filing still needs a binding).

    Parameters
    ----------
    bind
        Database.
    county_code
        The drafting county.
    profile, code_pattern
        Explicit choices for this run (None: the binding's).

    Returns
    -------
    Profile
    """
    with transaction(bind) as conn:
        found = _bound(conn, str(county_code).strip())
    if isinstance(profile, Profile) and code_pattern is None:
        return profile
    name = profile if profile is not None else (found.profile if found else None)
    pattern = code_pattern or (found.code_pattern if found else None)
    return load_profile(name).with_code_pattern(pattern)


def require_binding_message(county_code: str) -> str:
    return _(
        "county {county} is bound to no profile: an administrator binds it first "
        "(gridgeo city profile {county} NAME); filing never falls back to a default"
    ).format(county=county_code)


def binding_history(bind: Bind, division_code: str | None = None) -> pd.DataFrame:
    """Every binding (oldest first), optionally of one division code."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT division_code, profile, code_pattern, receiver_code, valid_from, "
                "valid_to, set_by, reason FROM registry.profile_binding "
                "WHERE CAST(:c AS text) IS NULL OR division_code = :c ORDER BY binding_id"
            ),
            {"c": division_code},
        ).all()
    cols = [
        "division_code",
        "profile",
        "code_pattern",
        "receiver_code",
        "valid_from",
        "valid_to",
        "set_by",
        "reason",
    ]
    return pd.DataFrame(rows, columns=cols)
