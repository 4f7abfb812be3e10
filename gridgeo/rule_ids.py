"""The catalogue of rule ids: one vocabulary for the partitioner, the validator and the registry.

Every rule a grid, a community or an input can break has one stable id here, with its
default severity, a one-line meaning and the regulation article it rests on (``basis``:
regulation name and article; empty for the project's own data-quality rules). The
partitioner's violations (:func:`gridgeo.partition.violations.violation`) and the
validator's issues (:class:`gridgeo.validate.Issue`) both refuse ids not listed here, so
a report from either names a rule the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridgeo.i18n import _

YONGZHOU_9 = "永州市城乡网格化服务管理条例（草案）第九条【网格划分】"
XINXIANG_7 = "新乡市社会治理网格化服务管理条例（草案）第七条"
XINXIANG_8 = "新乡市社会治理网格化服务管理条例（草案）第八条"
XINXIANG_11 = "新乡市社会治理网格化服务管理条例（草案）第十一条"
GANSU_SIZE = "甘肃省网格化服务管理工作办法（试行）一（一）2 网格划分标准"
GANSU_CODE = "甘肃省网格化服务管理工作办法（试行）一（一）4 网格统一编码"
JIANGMEN_8 = "江门市社会治理智慧网格服务管理条例（草案）第八条【网格划分设置】"
PANJIN_10 = "盘锦市兴隆台区网格管理办法（试行）第十条（网格划定）"

_SIZE = f"{YONGZHOU_9}; {XINXIANG_8}; {GANSU_SIZE} (规模适度: {XINXIANG_7}; {JIANGMEN_8})"
_COVER = f"{XINXIANG_7}; {JIANGMEN_8} (无缝覆盖)"
_BORDER = f"{PANJIN_10} (网格不应跨辖区划分); {JIANGMEN_8} (属地管理)"
_CODES = f"{XINXIANG_7} (统一标准编制网格编码); {GANSU_CODE} (每个网格应有唯一编码)"


@dataclass(frozen=True)
class Rule:
    """A rule's stable id, default severity, one-line meaning and the article it rests on.

    ``title`` is English (the language of the code); :attr:`label` is it in the language in
    use, translated when read (a report made in Chinese shows Chinese meanings, whatever the
    language was when this module was imported). ``basis`` is the regulation's own text.
    """

    id: str
    severity: str
    title: str
    basis: str = ""

    @property
    def label(self) -> str:
        """The rule's meaning in the language in use (:func:`gridgeo.i18n.gettext`)."""
        return _(self.title)


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        # inputs
        Rule("input.community_invalid", "warning", "community geometry was invalid and repaired"),
        Rule("household.outside_community", "error", "a household point lies in no community"),
        Rule("community.no_households", "warning", "no household point lies in the community"),
        # geometry
        Rule("geometry.invalid", "error", "grid geometry is missing, not a polygon or invalid"),
        Rule(
            "geometry.not_contiguous",
            "error",
            "grid has several parts in a one-part community",
            f"{XINXIANG_7} (界限清晰)",
        ),
        Rule("geometry.sliver", "error", "grid is smaller or narrower than the sliver thresholds"),
        # size
        Rule("size.below_floor", "error", "fewer households than the band's floor", _SIZE),
        Rule("size.above_ceiling", "error", "more households than the band's ceiling", _SIZE),
        Rule(
            "size.band_unattainable",
            "warning",
            "households outside the band, but the community cannot meet the band",
            _SIZE,
        ),
        Rule(
            "rural.no_villager_groups",
            "warning",
            "the profile divides villages by villager group, but none lies in the village",
            f"{XINXIANG_8} (农村网格原则上以村民小组为基础划分); {GANSU_SIZE}",
        ),
        # coverage and borders
        Rule("coverage.gap", "error", "part of a community is covered by no grid", _COVER),
        Rule("coverage.overlap", "error", "two grids overlap", _COVER),
        Rule("border.crosses_community", "error", "grid extends outside its community", _BORDER),
        Rule(
            "roads.border_share",
            "warning",
            "little of the grid's internal border is on roads",
            f"{PANJIN_10} (一般以马路中线为界); {XINXIANG_7} (界限清晰)",
        ),
        # codes
        Rule(
            "code.format",
            "error",
            "grid code is not the community code plus a sequence",
            _CODES,
        ),
        Rule("code.duplicate", "error", "several grids share one grid code", _CODES),
        Rule(
            "code.community_mismatch",
            "error",
            "grid code, community_code and location disagree",
            _CODES,
        ),
        Rule(
            "code.sequence_overflow",
            "error",
            "the community has more grids than the grid sequence has numbers",
            _CODES,
        ),
        # attributes and posting
        Rule(
            "attr.grid_type",
            "warning",
            "grid_type is not urban, rural or dedicated",
            f"{XINXIANG_8}; {GANSU_SIZE}",
        ),
        Rule(
            "posting.missing",
            "error",
            "attributes required for public posting are missing",
            f"{YONGZHOU_9}; {XINXIANG_11}",
        ),
        Rule("posting.unknown_grid", "warning", "staff table row names no grid of the layer"),
    )
}


def rule(rule_id: str) -> Rule:
    """The catalogue entry of ``rule_id``.

    Raises
    ------
    KeyError
        When the id is not in :data:`RULES` (a typo would otherwise start a second
        vocabulary).
    """
    try:
        return RULES[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule id {rule_id!r}; see gridgeo.rule_ids.RULES") from None


__all__ = ["RULES", "Rule", "rule"]
