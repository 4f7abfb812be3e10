"""Who receives a county's filings (备案): the division at the profile's filing level.

Yongzhou, Xinxiang and Jiangmen file with the city; Gansu
with the province; Panjin Xinglongtai with the district grid centre, i.e. the
district (county-level) itself (docs/rules.md). A pure function of the codes: the
registry stores its result with the filed change set and checks the reviewer's
division against it.
"""

from __future__ import annotations

from typing import Literal

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

Level = Literal["city", "province", "district"]
LEVELS: tuple[str, ...] = ("city", "province", "district")

# Mainland statistical division codes (GB/T 2260 + NBS): province 2 digits, city 4,
# county 6; longer codes (9 street, 12 community) start with the county's 6.
_MAINLAND_PREFIX = {"province": 2, "city": 4}


def receiving_division(county_code: str, level: str, *, override: str | None = None) -> str:
    """The code of the division that receives filings of ``county_code`` at ``level``.

    Parameters
    ----------
    county_code
        The filing county's (or district's) division code.
    level
        ``city``, ``province`` or ``district`` (the profile's ``filing_level``).
    override
        A receiving division set explicitly in the county's profile binding (for code
        schemes other than the mainland's); it must contain the county.

    Returns
    -------
    str
        The receiving division's code: for mainland codes the first 2 (province) or
        4 (city) digits, or the county code itself (district).

    Raises
    ------
    InputError
        For an unknown level, an override that does not contain the county, or a code
        that is not a mainland county code when no override is given.
    """
    code = str(county_code).strip()
    if level not in LEVELS:
        raise InputError(
            _("filing level {level!r} is not one of {value}").format(
                level=level, value=", ".join(LEVELS)
            ),
            [Problem(_("unknown filing level"), field="filing_level", rule="routing.level")],
        )
    if override:
        if not code.startswith(str(override)):
            raise InputError(
                _("receiving division {override} does not contain county {code}").format(
                    override=override, code=code
                ),
                [Problem(_("receiver outside"), field="receiver_code", rule="routing.receiver")],
            )
        return str(override)
    if level == "district":
        return code
    if not (code.isdigit() and len(code) == 6):
        raise InputError(
            _(
                "county code {code!r} is not a 6-digit mainland county code: the "
                "receiving {level} cannot be derived; bind the county with an explicit "
                "receiving division"
            ).format(code=code, level=level),
            [Problem(_("unknown code scheme"), field="county_code", rule="routing.scheme")],
        )
    return code[: _MAINLAND_PREFIX[level]].ljust(6, "0")
