"""Synthetic ledger histories for benchmarks: deterministic, fast, realistic in shape.

    .venv/bin/python scripts/synthetic.py --scale city --database-url sqlite:////tmp/city.db
    .venv/bin/python scripts/synthetic.py --scale province --create-schema \
        --database-url 'postgresql://postgres:postgres@127.0.0.1:5432/test?schema=bench_province'

or, as a library, `generate(ledger, scale, seed) -> stats` on an empty `Ledger`.

The history goes through the real aggregates and `ledger.save(*aggregates)` in bounded
batches, so the store holds exactly the events (and snapshots) the Ledger's commands would
have recorded; only the Ledger's per-command loading and checking is skipped, for speed.
It runs day by day, so every aggregate's effective dates are non-decreasing and every
step follows the one it needs (a letter is received after it is issued, a receipt
returned after the receipt, a probationary member confirmed after a year).

Scales: `small` (a county, ~200 members, a year, dense with every kind of case: several
thousand events), `city` (seed 001:
a city police bureau with 16 committees, 12 general branches, 238 branches and ~4,800
members, a year of transfers), `province` (~50,000 organizations, ~1,000,000 members,
three years; several million events). The seed (with the scale and its dates) fixes
everything but the recording timestamps: the transfers' ids come from a generator of their
own, so the same seed records the same events. `Stats.cases` counts what happened by kind
(reasons, routes, letters received on time or late, overdue, certificates issued and
returned, inactive members) for summaries and checks.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import itertools
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.base import SYSTEM, Actor, Context, LedgerAggregate
from domain.certificate import Certificate, add_months
from domain.idclaim import IdClaim
from domain.identifiers import check_character, id_card_digest, id_claim_id, make_registration_no
from domain.ledger import Ledger
from domain.member import Member, one_year_after
from domain.organization import COMMITTEE_KINDS, HOLDING_KINDS, Organization
from domain.transfer import Transfer, classify_route

BENCH_ID_KEY = "synthetic-benchmark-id-key"  # synthetic people only: not a secret
# The same for the data key that seals their personal fields (domain/personal.py): fixed, so
# that a store generated once is read by later runs.
BENCH_DATA_KEYS = "bench:" + base64.urlsafe_b64encode(hashlib.sha256(b"synthetic-benchmark-data-key").digest()).decode()


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


def _weighted(pairs: Iterable[tuple[str, int]]) -> tuple[list[str], list[int]]:
    names, cumulative, total = [], [], 0
    for name, weight in pairs:
        total += weight
        names.append(name)
        cumulative.append(total)
    return names, cumulative


# --- the generator -------------------------------------------------------------------------

@dataclass
class Stats:
    scale: str
    seed: int
    events: int = 0
    saves: int = 0
    seconds: float = 0.0
    organizations: int = 0
    members: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    transfers: Counter[str] = field(default_factory=Counter)  # by outcome
    cases: Counter[str] = field(default_factory=Counter)  # "group.kind", e.g. "route.cross_province"
    samples: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate"] = round(self.events / self.seconds) if self.seconds else None
        data["by_event"] = dict(sorted(self.by_event.items()))
        data["transfers"] = dict(sorted(self.transfers.items()))
        data["cases"] = dict(sorted(self.cases.items()))
        return data


@dataclass
class Plan:
    """What happens to one transfer, drawn when it is requested."""

    transfer: Transfer
    member: Member
    into: str  # the holding organization that receives the member
    outcome: str  # received, declined, cancelled, rejected, pocket


class Generator:
    def __init__(
        self, ledger: Ledger, scale: Scale, seed: int = 1, *, max_aggregates: int = 250,
        max_events: int = 2000, progress: Callable[[str], None] | None = None,
        progress_every: float = 5.0,
    ) -> None:
        self.ledger, self.scale, self.seed = ledger, scale, seed
        self.rng = random.Random(f"synthetic:{scale.name}:{seed}")
        # Transfer ids: drawn apart from `rng`, so they don't shift the rest of the history.
        self.ids = random.Random(f"synthetic-ids:{scale.name}:{seed}")
        # The digests must be the ones the Ledger computes, with its key.
        self.key = (ledger.env.get("LEDGER_ID_KEY") or "").encode()
        self.max_aggregates, self.max_events = max_aggregates, max_events
        self.progress, self.progress_every = progress, progress_every
        self.stats = Stats(scale.name, seed)
        self.dirty: dict[UUID, LedgerAggregate] = {}
        self.pending = 0
        self.requests = 0
        self.started = self.last_report = 0.0
        # organizations
        self.orgs: dict[str, Organization] = {}
        self.specs: dict[str, OrgSpec] = {}
        self.parent: dict[str, str | None] = {}
        self.holding: list[str] = []  # the ledger's own holding organizations (may be dissolved later)
        self.holding_in: dict[str, list[str]] = {}  # committee -> holding organizations below it
        self.committees_in: dict[str, list[str]] = {}  # region -> committees (and service centers)
        self.committees: list[str] = []
        self.meeting_day: dict[int, list[str]] = {}  # day of the month -> branches meeting then
        self.meeting_phase: dict[str, int] = {}  # months of a branch's meetings: month % every == phase
        self.actors: dict[str, Actor] = {}
        # people
        self.members: list[Member] = []
        self.by_number: dict[str, Member] = {}
        self.inactive: set[str] = set()
        self.hosted_by: dict[str, str] = {}  # registration_no -> host of a mobile certificate
        self.open_certificate: dict[str, Certificate] = {}  # registration_no -> its one open certificate
        self.new_claims: dict[UUID, IdClaim] = {}
        self.number_seq: Counter[tuple[str, date]] = Counter()
        self.id_seq: Counter[tuple[str, date]] = Counter()
        self.categories = _weighted(CATEGORIES["police" if scale.name == "city" else "default"])
        self.reasons = _weighted(REASONS)
        self.outcome_limits = tuple(itertools.accumulate(scale.outcomes))
        # the agenda: (day, sequence, action, arguments)
        self.agenda: list[tuple[date, int, str, Any]] = []
        self.plans: dict[str, Plan] = {}

    # --- plumbing -----------------------------------------------------------------------

    def ctx(self, on: date, actor: Actor = SYSTEM) -> Context:
        self.requests += 1
        return Context(on=on, actor=actor, request_id=f"syn{self.seed}-{self.requests}")

    def actor_for(self, code: str) -> Actor:
        committee = self.committee_of(code)
        actor = self.actors.get(committee)
        if actor is None:
            actor = self.actors[committee] = Actor(id=f"clerk-{committee}", organization_code=committee)
        return actor

    def touch(self, *aggregates: LedgerAggregate) -> None:
        for aggregate in aggregates:
            self.dirty[aggregate.id] = aggregate
        self.pending += len(aggregates)
        if len(self.dirty) >= self.max_aggregates or self.pending >= self.max_events:
            self.flush()

    def flush(self) -> None:
        if not self.dirty:
            return
        for aggregate in self.dirty.values():
            for event in aggregate.pending_events:
                self.stats.by_event[type(event).__qualname__] += 1
        recordings = self.ledger.save(*self.dirty.values())
        self.stats.events += len(recordings)
        self.stats.saves += 1
        self.dirty.clear()
        self.new_claims.clear()
        self.pending = 0
        now = time.monotonic()
        if self.progress and now - self.last_report >= self.progress_every:
            self.last_report = now
            elapsed = now - self.started
            self.progress(f"{self.scale.name}: {self.stats.events:,} events in {elapsed:,.0f} s "
                          f"({self.stats.events / elapsed:,.0f}/s), {len(self.members):,} members")

    def schedule(self, day: date, action: str, argument: Any) -> None:
        if day <= self.scale.end:
            self.requests += 1
            heapq.heappush(self.agenda, (day, self.requests, action, argument))

    def poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def committee_of(self, code: str) -> str:
        node: str | None = code
        while node is not None:
            if self.orgs[node].kind in COMMITTEE_KINDS:
                return node
            node = self.parent[node]
        return code

    # --- the history ---------------------------------------------------------------------

    def run(self) -> Stats:
        self.started = self.last_report = time.monotonic()
        scale = self.scale
        self.register_tree()
        self.import_members()
        day = scale.start + timedelta(days=scale.import_days)
        activity_from = date(1900, 1, 1)
        if scale.activity_months:
            activity_from = add_months(scale.end.replace(day=1), -scale.activity_months)
        while day <= scale.end:
            self.run_agenda(day)
            self.random_acts(day)
            if day >= activity_from:
                self.activity(day)
            if day.day == 5:
                self.file_previous_month(day)
            day += timedelta(days=1)
        self.flush()
        self.stats.seconds = time.monotonic() - self.started
        self.stats.organizations = len(self.orgs)
        self.stats.members = len(self.members)
        for plan in self.plans.values():
            self.stats.transfers[f"open_{plan.transfer.status}"] += 1
            valid_until = plan.transfer.valid_until
            if plan.transfer.status == "issued" and valid_until is not None and valid_until < scale.end:
                self.stats.cases["letter.overdue"] += 1
        self.stats.cases["members.inactive"] = sum(
            1 for number in self.inactive if not self.by_number[number].is_gone)
        self.stats.samples = self.samples()
        if self.progress:
            self.progress(f"{scale.name}: done, {self.stats.events:,} events in {self.stats.seconds:,.1f} s "
                          f"({self.stats.events / self.stats.seconds:,.0f}/s)")
        return self.stats

    def register_tree(self) -> None:
        ctx = self.ctx(self.scale.start)
        for spec in TREES[self.scale.name](self.rng):
            parent = self.orgs[spec.parent] if spec.parent else None
            org = Organization.register(ctx, spec.code, spec.name, spec.kind, parent, spec.region)
            self.orgs[spec.code], self.specs[spec.code], self.parent[spec.code] = org, spec, spec.parent
            if spec.kind in COMMITTEE_KINDS and spec.kind != "department":
                self.committees_in.setdefault(spec.region, []).append(spec.code)
                if not spec.outside:
                    self.committees.append(spec.code)
            if spec.kind in HOLDING_KINDS:
                self.holding_in.setdefault(self.committee_of(spec.code), []).append(spec.code)
                if not spec.outside:
                    self.holding.append(spec.code)
                self.meeting_day.setdefault(self.rng.randint(1, 28), []).append(spec.code)
                self.meeting_phase[spec.code] = self.rng.randrange(self.scale.org_life_every)
            self.touch(org, *([parent] if parent else []))

    def person(self, region: str, joined_on: date) -> dict[str, Any]:
        rng = self.rng
        birth = joined_on - timedelta(days=rng.randint(18 * 366, 40 * 365))
        birth = min(birth, date(self.scale.end.year - 18, 12, 31))
        male = rng.random() < 0.72
        self.id_seq[(region, birth)] += 1
        n = self.id_seq[(region, birth)]
        sequence = 2 * n - 1 if male else 2 * n  # the 17th digit is odd for men, as on an ID card
        if sequence > 999:
            return self.person(region, joined_on - timedelta(days=1))
        first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
        category = rng.choices(self.categories[0], cum_weights=self.categories[1])[0]
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return {
            "name": name, "gender": "male" if male else "female", "birth_date": birth,
            "category": category, "household_region": region,
            "workplace": None if category in ("retiree", "farmer") else f"{region}单位{rng.randint(1, 999)}",
            "residence": f"{region}小区{rng.randint(1, 500)}" if rng.random() < 0.5 else None,
            "id_digest": id_card_digest(first17 + check_character(first17), self.key),
        }

    def registration_no(self, region: str, joined_on: date) -> str:
        while True:
            self.number_seq[(region, joined_on)] += 1
            sequence = self.number_seq[(region, joined_on)]
            if sequence <= 999:
                return make_registration_no(region, joined_on, sequence)
            joined_on -= timedelta(days=1)

    def enroll(self, ctx: Context, org: Organization, event: type[Member.Enrolled], joined_on: date,
               status: str) -> Member:
        fields = self.person(org.region, joined_on)
        digest = fields.pop("id_digest")
        number = self.registration_no(org.region, joined_on)
        member = Member.enroll(
            ctx, event, registration_no=number, organization_code=org.code, id_digest=digest,
            status=status, joined_on=joined_on,
            probation_ends_on=one_year_after(joined_on) if status == "probationary" else None, **fields,
        )
        org.attach_member(ctx, number)
        claim = IdClaim.claim(ctx, digest, number)
        self.new_claims[claim.id] = claim
        self.members.append(member)
        self.by_number[number] = member
        if self.rng.random() < self.scale.inactive_share:
            self.inactive.add(number)
        if status == "probationary":
            assert member.probation_ends_on is not None
            self.schedule(member.probation_ends_on + timedelta(days=self.rng.randint(0, 30)), "confirm", member)
        self.touch(member, org, claim)
        return member

    def import_members(self) -> None:
        """Existing records, imported branch by branch over the first days."""
        scale, rng = self.scale, self.rng
        own = [c for c in self.holding]
        outside = [c for c, s in self.specs.items() if s.outside and s.kind in HOLDING_KINDS]
        counts: Counter[str] = Counter()
        for pool, total in ((own, scale.members), (outside, scale.outside_members)):
            cumulative, running = [], 0.0
            for code in pool:
                running += self.specs[code].weight
                cumulative.append(running)
            counts.update(rng.choices(pool, cum_weights=cumulative, k=total))
        order = own + outside
        per_day = max(1, math.ceil(len(order) / scale.import_days))
        for i, code in enumerate(order):
            on = scale.start + timedelta(days=i // per_day)
            org = self.orgs[code]
            ctx = self.ctx(on)
            for _ in range(counts[code]):
                if rng.random() < 0.03:
                    joined, status = on - timedelta(days=rng.randint(30, 330)), "probationary"
                else:
                    joined, status = on - timedelta(days=rng.randint(400, 50 * 365)), "full"
                self.enroll(ctx, org, Member.Imported, joined, status)

    def random_acts(self, day: date) -> None:
        scale, population = self.scale, len(self.members)
        per_day = population / 365
        for _ in range(self.poisson(scale.transfer_rate * per_day)):
            self.request(day)
        for _ in range(self.poisson(scale.admission_rate * per_day)):
            org = self.orgs[self.rng.choice(self.holding)]
            if org.status == "active":
                self.enroll(self.ctx(day, self.actor_for(org.code)), org, Member.Admitted, day, "probationary")
        for _ in range(self.poisson(scale.death_rate * per_day)):
            self.gone(day, None)
        for _ in range(self.poisson(scale.leave_rate * per_day)):
            reason = self.rng.choices(("self_withdrawal", "withdrew", "expelled"), (6, 2, 2))[0]
            self.gone(day, reason)
        for _ in range(self.poisson(scale.temporary_rate * per_day)):
            self.certificate(day, "temporary")
        for _ in range(self.poisson(scale.mobile_rate * per_day)):
            self.certificate(day, "mobile")
        for _ in range(self.poisson(scale.dissolutions / 365)):
            self.dissolve(day)
        for _ in range(self.poisson(scale.moves / 365)):
            self.move(day)

    def run_agenda(self, day: date) -> None:
        while self.agenda and self.agenda[0][0] <= day:
            _, _, action, argument = heapq.heappop(self.agenda)
            getattr(self, f"do_{action}")(day, argument)

    def pick_member(self, tries: int = 12) -> Member | None:
        for _ in range(tries):
            member = self.members[self.rng.randrange(len(self.members))]
            if member.place == "held" and member.transfer_id is None:
                return member
        return None

    # --- transfers -----------------------------------------------------------------------

    def pick_target(self, home: str) -> tuple[str, str] | None:
        """A target (holding organization or committee) and the holding organization receiving."""
        rng = self.rng
        if self.specs[home].outside:
            into = rng.choice(self.holding)
            return (into, into) if self.orgs[into].status == "active" else None
        committee = self.committee_of(home)
        roll = rng.random()
        if roll < 0.40:
            candidates = [c for c in self.holding_in.get(committee, []) if c != home]
        elif roll < 0.70:
            region = self.orgs[home].region
            others = [c for c in self.committees_in.get(region, []) if c != committee]
            candidates = self.holding_in.get(rng.choice(others), []) if others else []
        elif roll < 0.93:
            candidates = self.holding_in.get(rng.choice(self.committees), [])
        else:
            candidates = ["ZJ-S"]
        candidates = [c for c in candidates if c != home and self.orgs[c].status == "active"]
        if not candidates:
            return None
        into = rng.choice(candidates)
        if into != "ZJ-S" and rng.random() < 0.3:  # addressed to the committee, placed by it
            return self.committee_of(into), into
        return into, into

    def request(self, day: date) -> None:
        rng = self.rng
        member = self.pick_member()
        if member is None:
            return
        home = self.orgs[member.organization_code]
        picked = self.pick_target(home.code)
        if picked is None:
            return
        target, into = picked
        performance_record = override = None
        if member.status == "probationary":
            assert member.probation_ends_on is not None
            if day >= member.probation_ends_on:
                return  # confirmation comes first
            if (member.probation_ends_on - day).days <= 90:
                override = "工作调动,组织同意在转正前转接"
            if (day - member.joined_on).days > 180:
                performance_record = f"预备期考察记录 {member.registration_no}"
        basis = rng.choices(("workplace", "residence", "household"), (6, 2, 2))[0]
        evidence = None
        if basis == "workplace":
            evidence = {"kind": "labor_contract", "reference": f"LC-{day:%Y%m%d}-{rng.randint(1, 99999):05d}"}
        elif basis == "residence":
            kind = rng.choice(("lease", "property_deed"))
            evidence = {"kind": kind, "reference": f"{kind[:2].upper()}-{rng.randint(1, 999999):06d}"}
        route = classify_route(self.committee_of(home.code), self.committee_of(target), home.region,
                               self.orgs[target].region)
        ctx = self.ctx(day, self.actor_for(home.code))
        reason = rng.choices(self.reasons[0], cum_weights=self.reasons[1])[0]
        transfer = Transfer.request(
            ctx, transfer_id=UUID(int=self.ids.getrandbits(128), version=4),
            registration_no=member.registration_no, from_organization_code=home.code,
            to_organization_code=target, reason=reason, basis=basis, evidence=evidence,
            performance_record=performance_record, probation_override_reason=override, route=route,
        )
        self.stats.cases[f"reason.{reason}"] += 1
        self.stats.cases[f"route.{route}"] += 1
        member.open_transfer(ctx, transfer.transfer_id)
        self.touch(transfer, member)
        roll = rng.random()
        declined, cancelled, rejected, pocket = self.outcome_limits
        outcome = ("declined" if roll < declined else "cancelled" if roll < cancelled else "rejected"
                   if roll < rejected else "pocket" if roll < pocket else "received")
        self.plans[transfer.transfer_id] = Plan(transfer, member, into, outcome)
        if outcome == "declined":
            self.schedule(day + timedelta(days=rng.randint(1, 10)), "decline", transfer.transfer_id)
        else:
            self.schedule(day + timedelta(days=rng.choice((0, 0, 1, 1, 2, 3, 5, 7))), "issue",
                          transfer.transfer_id)

    def do_decline(self, day: date, transfer_id: str, reason: str = "材料不全,请补充后重新申请",
                   ctx: Context | None = None) -> None:
        plan = self.plans.pop(transfer_id)
        ctx = ctx or self.ctx(day, self.actor_for(plan.transfer.from_organization_code))
        plan.transfer.decline(ctx, reason)
        plan.member.close_transfer(ctx, transfer_id)
        self.touch(plan.transfer, plan.member)
        self.stats.transfers["declined"] += 1

    def do_issue(self, day: date, transfer_id: str) -> None:
        rng = self.rng
        plan = self.plans[transfer_id]
        transfer, member = plan.transfer, plan.member
        home, target = self.orgs[transfer.from_organization_code], self.orgs[transfer.to_organization_code]
        ctx = self.ctx(day, self.actor_for(home.code))
        probation_over = member.status == "probationary" and member.probation_ends_on is not None and (
            day >= member.probation_ends_on)  # the Ledger refuses: confirmation_due
        if target.status != "active" or probation_over:
            self.do_decline(day, transfer_id, "预备期已满,先转正" if probation_over else "接收组织已撤销", ctx)
            return
        committee = self.orgs[self.committee_of(home.code)]
        route = classify_route(committee.code, self.committee_of(target.code), home.region, target.region)
        number = committee.take_number(ctx, f"letter-{day.year}", transfer_id)
        letter_no = f"{committee.code}-{day.year}-{number:05d}"
        valid_days = rng.choices((30, 60, 90), (88, 8, 4))[0]
        transfer.issue(ctx, letter_no, committee.code, valid_days, route)
        member.go_in_transit(ctx, transfer_id, letter_no)
        self.touch(committee, transfer, member)
        valid_until = day + timedelta(days=valid_days)
        if plan.outcome == "cancelled":
            self.schedule(day + timedelta(days=rng.randint(5, 45)), "cancel", transfer_id)
        elif plan.outcome == "rejected":
            self.schedule(day + timedelta(days=rng.randint(2, 20)), "reject", transfer_id)
        elif plan.outcome == "received":
            roll = rng.random()
            if roll < 0.86:
                self.schedule(day + timedelta(days=rng.randint(1, min(valid_days, 25))), "receive", transfer_id)
            elif roll < 0.90 and valid_days < 90:  # extended, then received in time
                self.schedule(valid_until - timedelta(days=rng.randint(0, 5)), "extend", transfer_id)
            else:  # late, with the branch's certificate for the delay
                self.schedule(valid_until + timedelta(days=rng.randint(1, 40)), "receive", transfer_id)

    def do_extend(self, day: date, transfer_id: str) -> None:
        plan = self.plans[transfer_id]
        transfer = plan.transfer
        assert transfer.issued_on is not None
        until = transfer.issued_on + timedelta(days=90)
        transfer.extend(self.ctx(day, self.actor_for(transfer.from_organization_code)), until)
        self.touch(transfer)
        self.stats.cases["letter.extended"] += 1
        self.schedule(day + timedelta(days=self.rng.randint(1, (until - day).days)), "receive", transfer_id)

    def do_cancel(self, day: date, transfer_id: str, reason: str = "本人工作变动取消") -> None:
        plan = self.plans.pop(transfer_id)
        ctx = self.ctx(day, self.actor_for(plan.transfer.from_organization_code))
        plan.transfer.cancel(ctx, reason)
        plan.member.return_home(ctx, transfer_id, "cancelled")
        self.touch(plan.transfer, plan.member)
        self.stats.transfers["cancelled"] += 1

    def do_reject(self, day: date, transfer_id: str, reason: str = "不符合接收条件") -> None:
        plan = self.plans.pop(transfer_id)
        ctx = self.ctx(day, self.actor_for(plan.transfer.to_organization_code))
        plan.transfer.reject(ctx, reason)
        plan.member.return_home(ctx, transfer_id, "rejected")
        self.touch(plan.transfer, plan.member)
        self.stats.transfers["rejected"] += 1

    def do_receive(self, day: date, transfer_id: str) -> None:
        rng = self.rng
        plan = self.plans[transfer_id]
        transfer, member = plan.transfer, plan.member
        target = transfer.to_organization_code
        into = self.orgs[plan.into]
        if into.status != "active" or not self.is_within(into.code, target):
            below = [c for c in self.holding_in.get(self.committee_of(target), [])
                     if self.orgs[c].status == "active" and c != transfer.from_organization_code
                     and self.is_within(c, target)]
            if not below:
                self.do_reject(day, transfer_id, "接收组织已撤销")
                return
            into = self.orgs[rng.choice(below)]
        assert transfer.valid_until is not None
        late = None if day <= transfer.valid_until else f"超期说明-{member.registration_no}"
        home = self.orgs[transfer.from_organization_code]
        ctx = self.ctx(day, self.actor_for(target))
        transfer.receive(ctx, into.code, late)
        member.arrive(ctx, transfer_id, into.code)
        home.detach_member(ctx, member.registration_no)
        into.attach_member(ctx, member.registration_no)
        self.touch(transfer, member, home, into)
        self.close_certificate(ctx, member, "received", transfer_id)
        self.stats.transfers["received"] += 1
        self.stats.cases["letter.received_on_time" if late is None else "letter.received_late"] += 1
        roll = rng.random()
        if roll < 0.85:
            self.schedule(day + timedelta(days=rng.randint(1, 25)), "return_receipt", transfer_id)
        elif roll < 0.95:
            self.schedule(day + timedelta(days=rng.randint(31, 75)), "return_receipt", transfer_id)
        else:
            self.plans.pop(transfer_id)  # the receipt never comes back
            self.stats.transfers["receipt_unreturned"] += 1

    def do_return_receipt(self, day: date, transfer_id: str) -> None:
        plan = self.plans.pop(transfer_id)
        plan.transfer.return_receipt(self.ctx(day, self.actor_for(plan.transfer.to_organization_code)))
        self.touch(plan.transfer)
        self.stats.transfers["receipt_returned"] += 1

    def is_within(self, code: str, ancestor: str) -> bool:
        node: str | None = code
        while node is not None:
            if node == ancestor:
                return True
            node = self.parent[node]
        return False

    # --- members -------------------------------------------------------------------------

    def do_confirm(self, day: date, member: Member) -> None:
        if member.is_gone or member.status != "probationary":
            return
        if member.place != "held":
            self.schedule(day + timedelta(days=10), "confirm", member)
            return
        member.confirm(self.ctx(day, self.actor_for(member.organization_code)))
        self.touch(member)

    def gone(self, day: date, reason: str | None) -> None:
        member = self.pick_member()
        if member is None:
            return
        org = self.orgs[member.organization_code]
        ctx = self.ctx(day, self.actor_for(org.code))
        if reason is None:
            member.die(ctx)
        else:
            member.leave(ctx, reason)
        org.detach_member(ctx, member.registration_no)
        claim_id = id_claim_id(member.id_digest)
        claim = self.new_claims.get(claim_id) or self.ledger.repository.get(claim_id)
        claim.release(ctx)
        self.close_certificate(ctx, member, "deceased" if reason is None else "left")
        self.hosted_by.pop(member.registration_no, None)
        self.touch(member, org, claim)

    def certificate(self, day: date, kind: str) -> None:
        rng = self.rng
        member = self.pick_member()
        if member is None:
            return
        if member.registration_no in self.open_certificate:  # one open certificate at a time
            return
        home = member.organization_code
        committee = self.orgs[self.committee_of(home)]
        ctx = self.ctx(day, self.actor_for(home))
        number = committee.take_number(ctx, f"certificate-{day.year}", member.registration_no)
        host = description = contact = None
        if rng.random() < 0.6:
            host = rng.choice(self.holding)
            if host == home or self.orgs[host].status != "active":
                host = None
        if host is None:
            description = rng.choice(HOSTS)
        if kind == "temporary":
            valid_until = add_months(day, rng.randint(1, 6))
            purpose = rng.choice(PURPOSES)
        else:
            valid_until, purpose = add_months(day, 12), "外出务工"
            contact = rng.choice(SURNAMES) + rng.choice(GIVEN)
        certificate = Certificate.issue(
            ctx, certificate_no=f"{committee.code}-{'T' if kind == 'temporary' else 'M'}{day.year}-{number:05d}",
            kind=kind, registration_no=member.registration_no, home_organization_code=home,
            host_organization_code=host, host_description=description, purpose=purpose,
            contact_person=contact, valid_until=valid_until,
        )
        member.note_certificate(ctx, certificate.certificate_no)
        self.open_certificate[member.registration_no] = certificate
        self.touch(committee, certificate, member)
        self.stats.cases[f"certificate.{kind}_issued"] += 1
        if kind == "mobile" and host is not None:
            self.hosted_by[member.registration_no] = host
        if rng.random() < (0.45 if kind == "temporary" else 0.3):  # seed 001: "有去无回"
            back = valid_until + timedelta(days=rng.randint(-30, 30))
            self.schedule(max(back, day + timedelta(days=1)), "return_certificate", certificate)

    def do_return_certificate(self, day: date, certificate: Certificate) -> None:
        if certificate.status != "issued":  # closed meanwhile (received elsewhere, gone)
            return
        ctx = self.ctx(day, self.actor_for(certificate.home_organization_code))
        member = self.by_number[certificate.registration_no]
        certificate.return_(ctx)
        member.note_certificate(ctx, certificate.certificate_no, returned=True)
        self.open_certificate.pop(certificate.registration_no, None)
        self.touch(certificate, member)
        self.stats.cases[f"certificate.{certificate.kind}_returned"] += 1
        if certificate.kind == "mobile":
            self.hosted_by.pop(certificate.registration_no, None)

    def close_certificate(self, ctx: Context, member: Member, reason: str, transfer_id: str | None = None) -> None:
        """The member's open certificate ends with its relationship's move or end (as the
        Ledger's receipt, death and leaving close it)."""
        certificate = self.open_certificate.pop(member.registration_no, None)
        if certificate is None:
            return
        certificate.close(ctx, reason, transfer_id)
        member.note_certificate_closed(ctx, certificate.certificate_no)
        self.hosted_by.pop(member.registration_no, None)
        self.touch(certificate, member)
        self.stats.cases[f"certificate.{certificate.kind}_closed"] += 1

    def activity(self, day: date) -> None:
        """Each branch has its day of the month: org life in its meeting months, and the
        dues recorded that day."""
        rng, scale = self.rng, self.scale
        month = f"{day:%Y-%m}"
        for code in self.meeting_day.get(day.day, ()):
            org = self.orgs[code]
            meets = day.month % scale.org_life_every == self.meeting_phase[code]
            actor = self.actor_for(code)
            for number in list(org.members):
                member = self.by_number[number]
                if member.place != "held" or number in self.inactive:
                    continue
                attends, pays = meets and rng.random() < scale.org_life_p, rng.random() < scale.dues_p
                if not (attends or pays):
                    continue
                ctx = self.ctx(day, actor)
                if attends:
                    host = self.hosted_by.get(number)
                    where = host if host and self.orgs[host].status == "active" else code
                    member.attend_org_life(ctx, where)
                if pays:
                    member.pay_dues(ctx, month, DUES[member.category])
                self.touch(member)

    # --- organizations ------------------------------------------------------------------

    def file_previous_month(self, day: date) -> None:
        month = f"{(day.replace(day=1) - timedelta(days=1)):%Y-%m}"
        ctx = self.ctx(day)
        for code, spec in self.specs.items():
            if spec.kind == "department" and not spec.outside:
                org = self.orgs[code]
                org.file_month(ctx, month)
                self.touch(org)

    def dissolve(self, day: date) -> None:
        """A branch dissolved into a sibling (e.g. after redistricting); its members move."""
        rng = self.rng
        code = rng.choice(self.holding)
        org = self.orgs[code]
        if org.kind != "branch" or org.status != "active":
            return
        members = [self.by_number[n] for n in sorted(org.members)]
        if any(m.transfer_id is not None for m in members):
            return
        siblings = [c for c in self.orgs[self.parent[code] or code].children
                    if c != code and self.orgs[c].kind in HOLDING_KINDS and self.orgs[c].status == "active"]
        if not siblings:
            return
        successor = self.orgs[rng.choice(sorted(siblings))]
        ctx = self.ctx(day, self.actor_for(code))
        org.dissolve(ctx, successor)
        for member in members:
            member.move_on_dissolution(ctx, successor.code)
            org.detach_member(ctx, member.registration_no)
            successor.attach_member(ctx, member.registration_no)
        self.touch(org, successor, *members)

    def move(self, day: date) -> None:
        """Whole-organization transfer: a branch moves under another committee of its county."""
        rng = self.rng
        code = rng.choice(self.holding)
        org = self.orgs[code]
        if org.kind != "branch" or org.status != "active":
            return
        old_committee = self.committee_of(code)
        others = [c for c in self.committees_in.get(org.region, [])
                  if c != old_committee and self.orgs[c].kind == "committee"]
        if not others:
            return
        new_parent = self.orgs[rng.choice(others)]
        old_parent = self.orgs[self.parent[code] or code]
        ctx = self.ctx(day)
        org.move(ctx, new_parent)
        old_parent.detach_child(ctx, code)
        new_parent.attach_child(ctx, code)
        self.parent[code] = new_parent.code
        self.holding_in[old_committee].remove(code)
        self.holding_in.setdefault(new_parent.code, []).append(code)
        self.touch(org, old_parent, new_parent)

    # --- what benchmarks query -----------------------------------------------------------

    def samples(self) -> dict[str, Any]:
        """Typical targets for queries: the root, a median committee and one of its branches."""
        sizes: Counter[str] = Counter()
        for code in self.holding:
            if self.orgs[code].status == "active":
                sizes[code] = len(self.orgs[code].members)
        committee_sizes = Counter[str]()
        for code, size in sizes.items():
            committee_sizes[self.committee_of(code)] += size
        committees = sorted((n, c) for c, n in committee_sizes.items() if self.orgs[c].kind == "committee")
        committee = committees[len(committees) // 2][1]
        branches = sorted((sizes[c], c) for c in self.holding_in[committee] if c in sizes)
        branch = branches[len(branches) // 2][1]
        root = next(c for c, s in self.specs.items() if s.parent is None and not s.outside)
        end = self.scale.end
        last_month = end.replace(day=1) - timedelta(days=1)
        as_of = self.scale.start + (end - self.scale.start) / 2
        return {"root": root, "committee": committee, "branch": branch, "today": end.isoformat(),
                "month": f"{last_month:%Y-%m}", "as_of": as_of.isoformat(),
                "committee_members": committee_sizes[committee], "branch_members": sizes[branch]}


def generate(
    ledger: Ledger, scale: str | Scale, seed: int = 1, *, progress: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Write a synthetic history into an empty ledger; returns its statistics (and the
    codes, dates and month that benchmarks should query)."""
    chosen = SCALES[scale] if isinstance(scale, str) else scale
    if ledger.max_position():
        raise ValueError("the ledger is not empty: generate into a fresh store")
    return Generator(ledger, chosen, seed, progress=progress, **options).run().as_dict()


def ledger_for(database_url: str, scale: Scale, *, id_key: str | None = None) -> Ledger:
    """A Ledger on the URL whose "today" is the last day of the scale's history."""
    from domain.settings import store_env

    env = store_env(database_url)
    env["LEDGER_ID_KEY"] = id_key or os.environ.get("LEDGER_ID_KEY") or BENCH_ID_KEY
    env["LEDGER_DATA_KEYS"] = os.environ.get("LEDGER_DATA_KEYS") or BENCH_DATA_KEYS
    return Ledger(env, today=lambda: scale.end)


def create_schema(database_url: str) -> None:
    """Create the `?schema=` of a PostgreSQL URL if it is missing."""
    from urllib.parse import parse_qs, urlsplit

    import psycopg
    from psycopg import sql

    schema = parse_qs(urlsplit(database_url).query).get("schema", [None])[0]
    if schema:
        with psycopg.connect(database_url.split("?")[0], autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("LEDGER_DATABASE_URL"),
                        help="sqlite:////tmp/x.db or postgresql://...?schema=NAME (default $LEDGER_DATABASE_URL)")
    parser.add_argument("--create-schema", action="store_true", help="create the URL's PostgreSQL schema")
    parser.add_argument("--members", type=int, help="override the scale's number of members")
    parser.add_argument("--max-aggregates", type=int, default=250, help="aggregates per save")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url (or set LEDGER_DATABASE_URL)")
    scale = SCALES[args.scale]
    if args.members:
        scale = replace(scale, members=args.members)
    if args.create_schema:
        create_schema(args.database_url)
    ledger = ledger_for(args.database_url, scale)
    try:
        stats = generate(ledger, scale, args.seed, max_aggregates=args.max_aggregates,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        ledger.close()
    json.dump(stats, sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
