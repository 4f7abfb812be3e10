"""Partition profiles: the thresholds of one jurisdiction's regulation, read from data files.

Thresholds never live in code. Each shipped profile is a TOML file in
``gridgeo/profiles/`` named after the seed regulation it encodes; a user can
pass the path of an own TOML file instead of a name.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gridgeo.errors import ProfileError
from gridgeo.i18n import _, validation_detail

Kind = Literal["urban", "rural", "dedicated"]

#: Every spelling of a community or grid kind counties use, normalised (lower case, no
#: spaces) → the kind. The one table of these words: partition, validate, io and the
#: registry all call :func:`kind_from_word` / :meth:`Profile.community_kind`.
KIND_WORDS: dict[str, Kind] = {
    **dict.fromkeys(
        (
            "urban",
            "city",
            "community",
            "residents",
            "城市",
            "城镇",
            "城区",
            "城市社区",
            "城市社区网格",
            "社区",
            "社区网格",
            "居委会",
            "居民委员会",
            "社区居委会",
            "社区居民委员会",
        ),
        "urban",
    ),
    **dict.fromkeys(
        (
            "rural",
            "village",
            "countryside",
            "农村",
            "乡村",
            "村",
            "行政村",
            "村委会",
            "村民委员会",
            "农村网格",
            "村网格",
        ),
        "rural",
    ),
    **dict.fromkeys(
        (
            "dedicated",
            "unit",
            "compound",
            "专属",
            "专属网格",
            "单位",
            "单位型",
            "单位型网格",
            "小区",
            "小区型",
            "小区型网格",
            "封闭小区",
        ),
        "dedicated",
    ),
}


def kind_from_word(value: object) -> Kind | None:
    """The kind (urban/rural/dedicated) a kind or type field spells, or ``None``.

    Case and spaces (also full-width) make no difference; blanks and unknown words
    give ``None``.

    Examples
    --------
    >>> kind_from_word(" 村民委员会 "), kind_from_word("Urban"), kind_from_word("专属网格")
    ('rural', 'urban', 'dedicated')
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    word = re.sub(r"[\s\u3000]+", "", str(value)).lower()
    return KIND_WORDS.get(word)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeScheme(_Strict):
    """How community and grid codes look."""

    community_pattern: str = Field(
        default=r"\d{12}", description="Regular expression a community code must fully match."
    )
    grid_sequence_digits: int = Field(default=3, ge=1, le=6)
    urban_range: tuple[int, int] | None = Field(
        default=(1, 199),
        description="Last three digits of residents' committee codes (urban), inclusive.",
    )
    rural_range: tuple[int, int] | None = Field(
        default=(200, 399),
        description="Last three digits of villagers' committee codes (rural), inclusive.",
    )

    def with_pattern(self, pattern: str | None) -> CodeScheme:
        """This scheme with another community code pattern (e.g. ``--code-pattern``).

        The urban/rural ranges belong to the pattern they were written for: with a
        different pattern (Taiwan's 11-digit village codes …) the code says nothing about
        the kind, so the ranges are dropped.
        """
        if not pattern or pattern == self.community_pattern:
            return self
        return self.model_copy(
            update={"community_pattern": pattern, "urban_range": None, "rural_range": None}
        )

    def matches(self, code: str) -> bool:
        """Whether ``code`` fully matches the community pattern."""
        return re.fullmatch(self.community_pattern, str(code)) is not None

    def kind_from_code(self, code: object) -> Kind | None:
        """``urban``/``rural`` from the code's last three digits, if the scheme allows.

        The ranges are profile data (``urban_range``/``rural_range``); a code that does
        not match ``community_pattern`` says nothing.
        """
        if code is None or (isinstance(code, float) and code != code):
            return None
        code = str(code).strip()
        if not self.matches(code) or not code[-3:].isdigit():
            return None
        tail = int(code[-3:])
        if self.urban_range and self.urban_range[0] <= tail <= self.urban_range[1]:
            return "urban"
        if self.rural_range and self.rural_range[0] <= tail <= self.rural_range[1]:
            return "rural"
        return None


class UrbanRule(_Strict):
    """Urban community grids (城市社区网格)."""

    min_households: int = Field(default=300, ge=0)
    max_households: int = Field(default=500, ge=1)
    population_alternative: int | None = Field(
        default=None, description="Alternative size in residents (e.g. gansu: ~1000)."
    )
    population_tolerance: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Allowed relative deviation from population_alternative: the seeds say "
        "'about' (左右) 1000 residents; ±25 % is the same latitude the rural target gets, and "
        "1000 ± 25 % spans what 300–500 households hold at 2.5–3.3 residents each.",
    )

    @model_validator(mode="after")
    def _band(self):
        if self.min_households > self.max_households:
            raise ValueError(_("urban.min_households is larger than urban.max_households"))
        return self


class RuralRule(_Strict):
    """Rural grids (农村网格)."""

    mode: Literal["households", "village", "villager_group"] = "households"
    target_households: int = Field(default=200, ge=1)
    target_population: int | None = Field(default=500)
    tolerance: float = Field(
        default=0.25, ge=0, le=1, description="Allowed relative deviation from the target."
    )
    whole_village_max_households: int = Field(
        default=250, description="A village up to this size is one grid."
    )
    hamlet_eps_m: float | None = Field(
        default=150.0,
        ge=0,
        description="Household points closer than this (chained) form a hamlet (DBSCAN); a "
        "rural block above the ceiling is cut between hamlets before cutting inside one.",
    )

    @property
    def min_households(self) -> int:
        return int(round(self.target_households * (1 - self.tolerance)))

    @property
    def max_households(self) -> int:
        return int(round(self.target_households * (1 + self.tolerance)))


class DedicatedRule(_Strict):
    """Dedicated (专属) and unit/compound (单位型/小区型) grids."""

    categories: list[str] = Field(
        default_factory=lambda: [
            "school",
            "hospital",
            "industrial_park",
            "office_building",
            "market",
            "park",
            "scenic_area",
            "government",
            "research_institute",
        ]
    )
    min_households: int | None = Field(
        default=200,
        description="A unit/compound with at least this many households may stand alone.",
    )
    min_population: int | None = Field(default=700)
    size_rule_categories: list[str] = Field(
        default_factory=lambda: ["unit", "compound"],
        description=(
            "Categories that stand alone only when they reach min_households or "
            "min_population (单位型/小区型 grids); other listed categories always stand alone."
        ),
    )


class QualityRule(_Strict):
    """Geometric quality thresholds used by the partitioner and the validator."""

    road_tolerance_m: float = Field(default=5.0, gt=0)
    sliver_min_area_m2: float = Field(default=100.0, ge=0)
    sliver_min_width_m: float = Field(default=5.0, ge=0)
    seam_tolerance_m2: float = Field(default=1.0, ge=0)
    seam_width_m: float = Field(
        default=0.01,
        ge=0,
        description="Gaps, overlaps and border crossings nowhere wider than this are "
        "coordinate round-off (e.g. from reprojection), not rule breaches.",
    )
    near_border_m: float = Field(default=10.0, ge=0)
    min_road_border_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Validator warns when less of a grid's internal border lies on road centrelines.",
    )
    road_snap_m: float = Field(
        default=2.0, ge=0, description="A dangling road end this close to another road joins it."
    )
    divided_roads_on_median: bool = Field(
        default=False,
        description="Draw grid borders along the median of a divided road: the two one-way "
        "carriageways of the same name and class (OpenStreetMap oneway/name/highway) are "
        "replaced by their centreline before the blocks are built. Faster on road networks "
        "with many dual carriageways; borders then lie between the carriageways.",
    )
    road_extend_m: float = Field(
        default=10.0, ge=0, description="A dangling road end is extended this far to meet a road."
    )
    median_max_width_m: float = Field(
        default=30.0,
        ge=0,
        description="Household-free strips narrower than this (dual carriageways, slip roads) "
        "are split down their middle between the blocks on either side.",
    )
    split_road_extend_m: float = Field(
        default=150.0,
        ge=0,
        description="A block above the ceiling is first cut along dead-end roads inside it, "
        "each extended by up to this much to the next road or the block's edge.",
    )
    min_shared_border_m: float = Field(
        default=0.5, ge=0, description="Blocks touching along less than this are not adjacent."
    )


StaffRuleId = Literal[
    "staff.head", "staff.full_time", "staff.worker", "staff.professional_limit", "staff.dedicated"
]


class StaffRule(_Strict):
    """Who must serve each grid (网格员配置): the profile's staffing rules.

    ``basis`` names the article each rule rests on (rule id → article), so a
    breach report can cite it; a rule the regulation does not make is switched off
    here rather than in code.
    """

    head_scope: Literal["grid", "community", "none"] = Field(
        default="grid",
        description="One grid head (网格长) per grid, or one per community/village whose "
        "grids all share that head, or no head rule.",
    )
    full_time_grid_types: list[Literal["urban", "rural", "dedicated"]] = Field(
        default_factory=lambda: ["urban"],
        description="Grid types that need at least one full-time (专职) grid worker; "
        "part-time workers are enough in the others.",
    )
    min_workers: int = Field(
        default=1, ge=0, description="Grid workers (any kind, heads not counted) per grid."
    )
    professional_max_grids: int | None = Field(
        default=None, ge=1, description="Grids one professional (专业) grid worker may serve."
    )
    dedicated_unit_filed: bool = Field(
        default=False,
        description="Staff of a dedicated grid are chosen by its unit (选配单位) and filed "
        "with the township/street (备案乡镇街道): both must be on the roster.",
    )
    basis: dict[StaffRuleId, str] = Field(default_factory=dict)


class MatterRule(_Strict):
    """Which matter categories every grid needs a responsible department for (包片)."""

    core_categories: list[str] = Field(
        default_factory=lambda: [
            "sanitation",
            "municipal_facilities",
            "illegal_construction",
            "market_supervision",
        ],
        description="Category codes (the matter list's) that each grid needs a lead "
        "department for; `gridgeo departments check` lists the grids without one.",
    )
    basis: str = Field(
        default="盘锦兴隆台 第四条：住建、市政、综合执法、环卫、市场监管等五个单位实行包片负责制，"
        "保证每个网格中都有职能部门",
    )


class PatrolRule(_Strict):
    """Daily patrol duty of a full-time grid worker in the own grid."""

    min_daily_hours: float | None = Field(
        default=None,
        ge=0,
        description="Hours a worker must patrol the own grid each day; None: no rule.",
    )
    article: str = Field(default="", description="The article the figure rests on.")


class Profile(_Strict):
    """A jurisdiction's grid rules."""

    name: str
    title: str = ""
    seed: str = ""
    note: str = ""
    filing_level: Literal["city", "province", "district"] = Field(
        default="city",
        description="Who receives the county's filings (备案): the city (Yongzhou, Xinxiang, "
        "Jiangmen), the province (Gansu) or the district grid centre (Panjin Xinglongtai); see gridgeo.registry.routing.",
    )
    codes: CodeScheme = Field(default_factory=CodeScheme)
    urban: UrbanRule = Field(default_factory=UrbanRule)
    rural: RuralRule = Field(default_factory=RuralRule)
    dedicated: DedicatedRule = Field(default_factory=DedicatedRule)
    quality: QualityRule = Field(default_factory=QualityRule)
    staff: StaffRule = Field(default_factory=StaffRule)
    matters: MatterRule = Field(default_factory=MatterRule)
    patrol: PatrolRule = Field(default_factory=PatrolRule)

    def community_kind(
        self, value: object = None, code: object = None, *, default: str | None = None
    ) -> Kind | None:
        """The kind of a community: urban or rural.

        Decided by the ``kind`` field when it spells urban or rural
        (:func:`kind_from_word`), else by ``default`` (e.g. ``--kind`` on the command
        line), else by the code under this profile's code scheme
        (:meth:`CodeScheme.kind_from_code`), else ``None`` (the caller decides).
        """
        word = kind_from_word(value)
        if word in ("urban", "rural"):
            return word
        if default in ("urban", "rural"):
            return default  # type: ignore[return-value]
        return self.codes.kind_from_code(code)

    def household_band(self, kind: str) -> tuple[int, int] | None:
        """``(floor, ceiling)`` households per grid of ``kind``, inclusive.

        Urban: ``urban.min_households``–``urban.max_households``; rural:
        ``rural.target_households`` ± ``rural.tolerance`` (rounded); dedicated grids
        have no household band (``None``).
        """
        if kind == "dedicated":
            return None
        rule = self.rural if kind == "rural" else self.urban
        return int(rule.min_households), int(rule.max_households)

    def population_band(self, kind: str) -> tuple[float, float] | None:
        """``(floor, ceiling)`` residents per grid of ``kind``, if the profile gives a figure.

        Urban: ``urban.population_alternative`` ± ``urban.population_tolerance``; rural:
        ``rural.target_population`` ± ``rural.tolerance``; else ``None``.
        """
        if kind == "rural":
            target, tol = self.rural.target_population, self.rural.tolerance
        elif kind == "urban":
            target, tol = self.urban.population_alternative, self.urban.population_tolerance
        else:
            return None
        if not target:
            return None
        return target * (1 - tol), target * (1 + tol)

    def with_code_pattern(self, pattern: str | None) -> Profile:
        """A copy whose community code pattern is ``pattern`` (for one run)."""
        if not pattern:
            return self
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ProfileError(
                _("--code-pattern {pattern!r} is not a valid regex: {exc}").format(
                    pattern=pattern, exc=exc
                )
            ) from exc
        return self.model_copy(update={"codes": self.codes.with_pattern(pattern)})

    def with_divided_roads_on_median(self, on: bool | None) -> Profile:
        """A copy that does (or does not) put divided roads on their median (``None``: as is)."""
        if on is None or on == self.quality.divided_roads_on_median:
            return self
        quality = self.quality.model_copy(update={"divided_roads_on_median": on})
        return self.model_copy(update={"quality": quality})


def available_profiles() -> list[str]:
    """Names of the profiles shipped with gridgeo."""
    folder = resources.files("gridgeo") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def default_profile_name() -> str:
    """The profile used when none is given: ``GRIDGEO_PROFILE`` (default ``yongzhou``)."""
    from gridgeo.settings import get_settings

    return get_settings().profile


def load_profile(name_or_path: str | Path | Profile | None = None) -> Profile:
    """Load a shipped profile by name, or an own profile from a TOML file.

    Parameters
    ----------
    name_or_path
        ``"yongzhou"``, ``"gansu"`` … or the path of a ``.toml`` file; ``None``: the
        default profile (:func:`default_profile_name`, setting ``GRIDGEO_PROFILE``).

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        When the profile does not exist or a field is wrong; the message names
        the file and the field.
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    if name_or_path is None or str(name_or_path) == "":
        name_or_path = default_profile_name()
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProfileError(_("profile file {path} does not exist").format(path=path))
        source, raw = str(path), path.read_bytes()
    else:
        res = resources.files("gridgeo") / "profiles" / f"{text_name}.toml"
        if not res.is_file():
            raise ProfileError(
                _(
                    "unknown profile {name!r}; shipped profiles: {value} (or give the "
                    "path of a .toml file)"
                ).format(name=text_name, value=", ".join(available_profiles()))
            )
        source, raw = f"gridgeo/profiles/{text_name}.toml", res.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(
            _("{source}: not a UTF-8 TOML file: {exc}").format(source=source, exc=exc)
        ) from exc
    data.setdefault("name", path.stem)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(validation_detail(e) for e in exc.errors())
        raise ProfileError(f"{source}: {details}") from exc
