"""What a simulated history is made of: its scales (sizes, dates and yearly rates), the
organization trees (a county, seed 001's city bureau, a province) and the words people are
made of. The history itself is `api/simulation/generator.py`'s."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.vocabulary import HOLDING_KINDS

__all__ = ["HOLDING_KINDS", "SCALES", "TREES", "OrgSpec", "Scale"]

@dataclass(frozen=True)
class Scale:
    """How big a history is, and the yearly rates of what happens in it."""

    name: str
    start: date  # organizations registered, imports begin
    end: date  # the last day of the history (use it as the ledger's "today")
    import_days: int  # imports of existing records spread over these first days
    members: int  # members imported into the ledger's own organizations
    outside_members: int  # held by another province's service center (incoming transfers)
    transfer_rate: float = 0.06  # transfers requested a year, per member
    admission_rate: float = 0.02
    death_rate: float = 0.008
    leave_rate: float = 0.0008
    temporary_rate: float = 0.02  # temporary certificates a year, per member
    mobile_rate: float = 0.004
    org_life_p: float = 0.85  # chance a member attends a meeting of the branch
    org_life_every: int = 1  # months between a branch's meetings (3: the quarterly 支部党员大会)
    dues_p: float = 0.9  # chance a member's dues for the month are recorded at a meeting day
    inactive_share: float = 0.02  # members who never show up (inactive_6m candidates)
    activity_months: int = 0  # org life and dues only in the last N months (0: all along)
    dissolutions: int = 2  # branches dissolved into a sibling, a year
    moves: int = 1  # branches moved under another committee of the county, a year
    # Shares of requested transfers that are declined, cancelled, rejected, or issued and
    # never received (overdue); the rest are received.
    outcomes: tuple[float, float, float, float] = (0.02, 0.02, 0.01, 0.015)


SCALES: dict[str, Scale] = {
    # Dense, so that every kind of case shows in a few thousand events (tests, trying out).
    "small": Scale("small", date(2024, 1, 1), date(2024, 12, 31), 10, 200, 20,
                   transfer_rate=0.5, temporary_rate=0.15, mobile_rate=0.06, inactive_share=0.04,
                   dissolutions=1, moves=1, outcomes=(0.05, 0.08, 0.06, 0.08)),
    "city": Scale("city", date(2024, 1, 1), date(2024, 12, 31), 20, 4950, 120),
    "province": Scale("province", date(2022, 1, 1), date(2024, 12, 31), 90, 1_000_000, 10_000,
                      transfer_rate=0.04, admission_rate=0.015, temporary_rate=0.01,
                      mobile_rate=0.002, org_life_p=0.85, org_life_every=3, dues_p=0.05,
                      inactive_share=0.01, activity_months=6, dissolutions=60, moves=30),
}


@dataclass(frozen=True)
class OrgSpec:
    code: str
    name: str
    kind: str
    parent: str | None
    region: str
    weight: float = 0.0  # share of imported members (holding organizations only)
    outside: bool = False  # another province: a source and a destination only


# --- organization trees ------------------------------------------------------------------

CITIES = ("南京", "无锡", "徐州", "常州", "苏州", "南通", "连云港", "淮安", "盐城", "扬州", "镇江",
          "泰州", "宿迁")
COUNTIES_PER_CITY = (11, 7, 10, 6, 9, 7, 6, 7, 9, 6, 6, 6, 5)  # 95 counties
NJ_DISTRICTS = (("320102", "玄武"), ("320104", "秦淮"), ("320105", "建邺"), ("320106", "鼓楼"),
                ("320111", "浦口"), ("320113", "栖霞"), ("320114", "雨花台"), ("320115", "江宁"),
                ("320116", "六合"), ("320117", "溧水"), ("320118", "高淳"))
BUREAU_UNITS = ("交警支队", "特警支队", "刑警支队", "机关", "监所管理支队")


def _outside() -> list[OrgSpec]:
    return [OrgSpec("ZJ", "浙江省委组织部", "department", None, "330000", outside=True),
            OrgSpec("ZJ-S", "浙江省人才市场党委", "service_center", "ZJ", "330000", weight=1.0, outside=True)]


def _branch_weight(rng: random.Random) -> float:
    return rng.uniform(0.3, 1.7)


def tree_small(rng: random.Random) -> list[OrgSpec]:
    specs = [OrgSpec("NJ", "南京市委组织部", "department", None, "320100"),
             OrgSpec("XW", "玄武区委组织部", "department", "NJ", "320102"),
             OrgSpec("QH", "秦淮区委组织部", "department", "NJ", "320104"),
             OrgSpec("XW-S", "玄武区党员服务中心", "service_center", "XW", "320102", weight=2.0)]
    layout = (("XW-C1", "玄武街道党工委", "XW", "320102", 2, 2), ("XW-C2", "玄武科技园党委", "XW", "320102", 3, 0),
              ("QH-C1", "秦淮街道党工委", "QH", "320104", 3, 0))
    for code, name, parent, region, direct, in_general in layout:
        specs.append(OrgSpec(code, name, "committee", parent, region))
        for b in range(1, direct + 1):
            specs.append(OrgSpec(f"{code}-B{b}", f"{name}第{b}党支部", "branch", code, region, _branch_weight(rng)))
        if in_general:
            specs.append(OrgSpec(f"{code}-G1", f"{name}第一党总支", "general_branch", code, region))
            for b in range(1, in_general + 1):
                specs.append(OrgSpec(f"{code}-G1-B{b}", f"{name}总支第{b}支部", "branch", f"{code}-G1", region,
                                     _branch_weight(rng)))
    return specs + _outside()


def tree_city(rng: random.Random) -> list[OrgSpec]:
    """Seed 001: 市局党委 with 16 committees, 12 general branches, 238 branches."""
    specs = [OrgSpec("NJ", "南京市委组织部", "department", None, "320100"),
             OrgSpec("NJ-GA", "南京市公安局党委", "work_committee", "NJ", "320100"),
             OrgSpec("NJ-RC", "南京市人才服务中心党委", "service_center", "NJ", "320100", weight=8.0)]
    units = [(region, f"{district}分局") for region, district in NJ_DISTRICTS]
    units += [("320100", unit) for unit in BUREAU_UNITS]
    branches = [15] * 14 + [14] * 2  # 238
    for c, ((region, unit), count) in enumerate(zip(units, branches, strict=True), start=1):
        code = f"NJ-GA-C{c:02d}"
        specs.append(OrgSpec(code, f"{unit}党委", "committee", "NJ-GA", region))
        in_general = 4 if c <= 12 else 0
        if in_general:
            specs.append(OrgSpec(f"{code}-G1", f"{unit}党总支", "general_branch", code, region))
        for b in range(1, count + 1):
            parent = f"{code}-G1" if b <= in_general else code
            specs.append(OrgSpec(f"{parent}-B{b:02d}", f"{unit}第{b}党支部", "branch", parent, region,
                                 _branch_weight(rng)))
    return specs + _outside()


def tree_province(rng: random.Random) -> list[OrgSpec]:
    """A province: 13 cities, 95 counties, ~3,400 committees, ~50,000 organizations."""
    specs = [OrgSpec("JS", "江苏省委组织部", "department", None, "320000")]
    for ci, (city, counties) in enumerate(zip(CITIES, COUNTIES_PER_CITY, strict=True), start=1):
        city_code, city_region = f"JS-{ci:02d}", f"32{ci:02d}00"
        specs.append(OrgSpec(city_code, f"{city}市委组织部", "department", "JS", city_region))
        for ki in range(1, counties + 1):
            county, region = f"{city_code}-{ki:02d}", f"32{ci:02d}{ki + 1:02d}"
            cname = f"{city}第{ki}区县"
            specs.append(OrgSpec(county, f"{cname}委组织部", "department", city_code, region))
            specs.append(OrgSpec(f"{county}-S", f"{cname}党员服务中心", "service_center", county, region,
                                 weight=6.0))
            for cj in range(1, rng.randint(28, 44) + 1):
                committee = f"{county}-C{cj:02d}"
                specs.append(OrgSpec(committee, f"{cname}第{cj}基层党委", "committee", county, region))
                for b in range(1, rng.randint(5, 11) + 1):
                    specs.append(OrgSpec(f"{committee}-B{b:02d}", f"{cname}{cj}委第{b}支部", "branch", committee,
                                         region, _branch_weight(rng)))
                for g in range(1, rng.randint(0, 2) + 1):
                    general = f"{committee}-G{g}"
                    specs.append(OrgSpec(general, f"{cname}{cj}委第{g}党总支", "general_branch", committee, region))
                    for b in range(1, rng.randint(3, 6) + 1):
                        specs.append(OrgSpec(f"{general}-B{b}", f"{cname}{cj}委{g}总支第{b}支部", "branch", general,
                                             region, _branch_weight(rng)))
    return specs + _outside()


TREES: dict[str, Callable[[random.Random], list[OrgSpec]]] = {
    "small": tree_small, "city": tree_city, "province": tree_province,
}

# --- people -------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红文斌鹏辉玲宇浩凯健俊帆帅"
    "旭宁婷雪琳晨阳波峰亮成志海东玉萍林"
)
CATEGORIES = {
    "default": (("cadre", 18), ("worker", 20), ("farmer", 14), ("retiree", 24), ("student", 5),
                ("military_transferee", 3), ("auxiliary_police", 1), ("other", 15)),
    "police": (("cadre", 62), ("auxiliary_police", 14), ("military_transferee", 10), ("retiree", 9),
               ("worker", 2), ("other", 3)),
}
DUES = {"cadre": Decimal("45.00"), "worker": Decimal("12.50"), "farmer": Decimal("2.00"),
        "retiree": Decimal("6.80"), "student": Decimal("0.20"), "military_transferee": Decimal("30.00"),
        "auxiliary_police": Decimal("8.00"), "other": Decimal("10.00")}
REASONS = (("job_change", 45), ("graduation", 10), ("military_transfer", 5), ("retirement_relocation", 12),
           ("mobile_work", 10), ("other", 18))
HOSTS = ("中央党校进修班", "省委党校培训班", "全国党代会", "市人代会", "清华大学访问学者", "援疆工作队")
PURPOSES = ("参加培训", "参加会议", "学习进修", "挂职锻炼")


def weighted(pairs: Iterable[tuple[str, int]]) -> tuple[list[str], list[int]]:
    names, cumulative, total = [], [], 0
    for name, weight in pairs:
        total += weight
        names.append(name)
        cumulative.append(total)
    return names, cumulative

