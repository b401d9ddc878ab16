"""Synthetic ledger histories for the demo and the benchmarks: deterministic, realistic in shape.

    .venv/bin/python scripts/synthetic.py --scale city --database-url sqlite:////tmp/city.db
    .venv/bin/python scripts/synthetic.py --scale province --create-schema \
        --database-url 'postgresql://postgres:postgres@127.0.0.1:5432/test?schema=bench_province'

or, as a library, `generate(ledger, scale, seed) -> stats` on an empty `Ledger`.

The simulation decides who does what when (the scenario: who is admitted, who asks to
move where, when a letter is received, late or never); everything it does is recorded by
the Ledger's own commands (`import_member`, `request_transfer`, `issue_letter`,
`receive_member`, `issue_certificate`, `dissolve_organization` ...), the very ones the API
calls, so its history obeys exactly the product's rules (letter and certificate numbers,
receipts, dissolutions, resident-ID claims). The commands run in consecutive batches of
`domain/ledger/steps.py` (thousands of commands share one atomic save); a command the
Ledger refuses stops the simulation with that refusal. It runs day by day, so every
effective date follows the ones before it.

Scales are `api/simulation/trees.py`'s: `small` (a county, dense with every kind of case), `city`
(seed 001's city police bureau, ~4,800 members, a year), `province` (~1,000,000 members,
~50,000 organizations, three years). The seed (with the scale and its dates) fixes
everything but the recording timestamps: the transfers' ids come from a generator of their
own, so the same seed records the same events. `Stats.cases` counts what happened by kind.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import math
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from api.simulation.acts import Acts, Plan
from api.simulation.stats import Stats
from api.simulation.trees import (
    CATEGORIES,
    GIVEN,
    REASONS,
    SCALES,
    SURNAMES,
    TREES,
    OrgSpec,
    Scale,
    weighted,
)
from domain.base import SYSTEM, Actor
from domain.calendar import add_months, month_text
from domain.identifiers import (
    check_character,
    id_card_digest,
    id_claim_id,
    make_registration_no,
    member_id,
    organization_id,
)
from domain.ledger import Ledger
from domain.ledger.steps import note_absent, run_steps
from domain.member import Member
from domain.organization import Organization
from domain.vocabulary import COMMITTEE_KINDS, HOLDING_KINDS

__all__ = ["BENCH_DATA_KEYS", "BENCH_ID_KEY", "Generator", "create_schema", "generate", "ledger_for"]

BENCH_ID_KEY = "synthetic-benchmark-id-key"  # synthetic people only: not a secret
# The same for the data key that seals their personal fields (domain/personal.py): fixed, so
# that a store generated once is read by later runs.
BENCH_DATA_KEYS = "bench:" + base64.urlsafe_b64encode(hashlib.sha256(b"synthetic-benchmark-data-key").digest()).decode()


class Generator(Acts):
    def __init__(
        self, ledger: Ledger, scale: Scale, seed: int = 1, *, max_aggregates: int = 250,
        progress: Callable[[str], None] | None = None, progress_every: float = 5.0,
    ) -> None:
        self.ledger, self.scale, self.seed = ledger, scale, seed
        self.rng = random.Random(f"synthetic:{scale.name}:{seed}")
        # Transfer ids: drawn apart from `rng`, so they don't shift the rest of the history.
        self.ids = random.Random(f"synthetic-ids:{scale.name}:{seed}")
        self.key = (ledger.env.get("LEDGER_ID_KEY") or "").encode()  # for the hints of new claims
        self.max_aggregates = max_aggregates
        self.progress, self.progress_every = progress, progress_every
        self.stats = Stats(scale.name, seed)
        self.requests = 0
        self.day = scale.start
        self.started = self.last_report = 0.0
        # the scenario's own bookkeeping (the records themselves are the ledger's)
        self.specs: dict[str, OrgSpec] = {}
        self.holding: list[str] = []  # the ledger's own holding organizations (may be dissolved later)
        self.holding_in: dict[str, list[str]] = {}  # committee -> holding organizations below it
        self.committees_in: dict[str, list[str]] = {}  # region -> committees (and service centers)
        self.committees: list[str] = []
        self.committees_of: dict[str, str] = {}
        self.meeting_day: dict[int, list[str]] = {}  # day of the month -> branches meeting then
        self.meeting_phase: dict[str, int] = {}  # months of a branch's meetings: month % every == phase
        self.numbers: list[str] = []  # every member's registration number, in the order enrolled
        self.known_numbers: set[str] = set()
        self.inactive: set[str] = set()
        self.hosted_by: dict[str, tuple[str, date]] = {}  # registration_no -> mobile certificate's host, until
        self.number_seq: Counter[tuple[str, date]] = Counter()
        self.id_seq: Counter[tuple[str, date]] = Counter()
        self.categories = weighted(CATEGORIES["police" if scale.name == "city" else "default"])
        self.reasons = weighted(REASONS)
        self.outcome_limits = tuple(itertools.accumulate(scale.outcomes))
        # the agenda: (day, sequence, action, arguments)
        self.agenda: list[tuple[date, int, str, Any]] = []
        self.plans: dict[str, Plan] = {}

    # --- reading the ledger (inside a batch, as the batch's commands left it) -------------

    def org(self, code: str) -> Organization:
        return self.ledger.organization(code)

    def member(self, registration_no: str) -> Member:
        return self.ledger.member(registration_no)

    def committee_of(self, code: str) -> str:
        """The committee acting for `code` (remembered: it changes only when `move` moves
        the branch, which forgets it)."""
        committee = self.committees_of.get(code)
        if committee is None:
            committee = self.committees_of[code] = self.ledger.committee_of(code)
        return committee

    @property
    def orgs(self) -> dict[str, Organization]:
        """Every organization as the ledger holds it now."""
        return {code: self.org(code) for code in self.specs}

    @property
    def members(self) -> list[Member]:
        """Every member as the ledger holds it now, in the order enrolled."""
        return [self.member(number) for number in self.numbers]

    # --- plumbing -----------------------------------------------------------------------

    def request_id(self) -> str:
        self.requests += 1
        return f"syn{self.seed}-{self.requests}"

    def by(self, code: str) -> dict[str, Any]:
        """Who acts for `code` (the clerk of its committee), on the day, under a request id."""
        committee = self.committee_of(code)
        return {"actor": Actor(id=f"clerk-{committee}", organization_code=committee), "on": self.day,
                "request_id": self.request_id()}

    def by_system(self) -> dict[str, Any]:
        return {"actor": SYSTEM, "on": self.day, "request_id": self.request_id()}

    def receiving(self, code: str) -> str:
        """Who receives for a letter addressed to `code`: its successor once dissolved."""
        org = self.org(code)
        while org.status != "active" and org.successor_code is not None:
            org = self.org(org.successor_code)
        return org.code

    def saved(self, events: list[Any], position: int) -> None:
        """A batch committed: count its events; report progress now and then."""
        for event in events:
            self.stats.by_event[type(event).__qualname__] += 1
        self.stats.events += len(events)
        self.stats.saves += 1
        now = time.monotonic()
        if self.progress and now - self.last_report >= self.progress_every:
            self.last_report = now
            elapsed = now - self.started
            self.progress(f"{self.scale.name}: {self.stats.events:,} events in {elapsed:,.0f} s "
                          f"({self.stats.events / elapsed:,.0f}/s), {len(self.numbers):,} members")
        self.report()

    def report(self) -> None:
        """Called after each save and each simulated day (a seam for progress bars)."""

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

    # --- the history ---------------------------------------------------------------------

    def run(self) -> Stats:
        if self.ledger.max_position():
            raise ValueError("the ledger is not empty: generate into a fresh store")
        self.started = self.last_report = time.monotonic()
        scale = self.scale
        run_steps(self.ledger, self.steps(), max_aggregates=self.max_aggregates, saved=self.saved)
        self.stats.seconds = time.monotonic() - self.started
        self.stats.organizations = len(self.specs)
        self.stats.members = len(self.numbers)
        for transfer_id in self.plans:
            transfer = self.ledger.transfer(transfer_id)
            self.stats.transfers[f"open_{transfer.status}"] += 1
            if transfer.status == "issued" and transfer.valid_until is not None and transfer.valid_until < scale.end:
                self.stats.cases["letter.overdue"] += 1
        self.stats.cases["members.inactive"] = sum(
            1 for number in self.inactive if not self.member(number).is_gone)
        self.stats.samples = self.samples()
        if self.progress:
            self.progress(f"{scale.name}: done, {self.stats.events:,} events in {self.stats.seconds:,.1f} s "
                          f"({self.stats.events / self.stats.seconds:,.0f}/s)")
        return self.stats

    def steps(self) -> Iterator[None]:
        """The whole history, a step (a few commands) at a time."""
        scale = self.scale
        yield from self.register_tree()
        yield from self.import_members()
        day = scale.start + timedelta(days=scale.import_days)
        activity_from = date(1900, 1, 1)
        if scale.activity_months:
            activity_from = add_months(scale.end.replace(day=1), -scale.activity_months)
        while day <= scale.end:
            self.day = day
            yield from self.run_agenda(day)
            yield from self.random_acts(day)
            if day >= activity_from:
                yield from self.activity(day)
            if day.day == 5:
                yield from self.file_previous_month(day)
            self.report()
            day += timedelta(days=1)

    def register_tree(self) -> Iterator[None]:
        self.day = self.scale.start
        for spec in TREES[self.scale.name](self.rng):
            note_absent(self.ledger, [organization_id(spec.code)])
            self.ledger.register_organization(spec.code, spec.name, spec.kind, spec.parent, spec.region,
                                              **self.by_system())
            self.specs[spec.code] = spec
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
            yield

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
            "id_card_no": first17 + check_character(first17),
        }

    def registration_no(self, region: str, joined_on: date) -> str:
        """A number for an imported member (brought along from the old records)."""
        while True:
            self.number_seq[(region, joined_on)] += 1
            sequence = self.number_seq[(region, joined_on)]
            if sequence <= 999:
                return make_registration_no(region, joined_on, sequence)
            joined_on -= timedelta(days=1)

    def enroll(self, code: str, joined_on: date, status: str, admitted: bool) -> None:
        """An import (with its number) or an admission (the ledger gives the number)."""
        region = self.org(code).region
        fields = self.person(region, joined_on)
        # The store started empty: a claim or number this simulation never made is not in it.
        hints = [id_claim_id(id_card_digest(fields["id_card_no"], self.key))]
        if admitted:
            first_free = next(n for s in range(1, 1000)
                              if (n := make_registration_no(region, joined_on, s)) not in self.known_numbers)
            note_absent(self.ledger, [*hints, member_id(first_free)])
            recorded = self.ledger.admit_member(code, joined_on=joined_on, **fields, **self.by(code))
        else:
            brought = self.registration_no(region, joined_on)
            note_absent(self.ledger, [*hints, member_id(brought)])
            recorded = self.ledger.import_member(code, registration_no=brought, status=status,
                                                 joined_on=joined_on, **fields, **self.by_system())
        number = recorded.registration_no
        assert number is not None
        self.numbers.append(number)
        self.known_numbers.add(number)
        if self.rng.random() < self.scale.inactive_share:
            self.inactive.add(number)
        if status == "probationary":
            ends = self.member(number).probation_ends_on
            assert ends is not None
            self.schedule(ends + timedelta(days=self.rng.randint(0, 30)), "confirm", number)

    def import_members(self) -> Iterator[None]:
        """Existing records, imported branch by branch over the first days."""
        scale, rng = self.scale, self.rng
        own = list(self.holding)
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
            self.day = on = scale.start + timedelta(days=i // per_day)
            for _ in range(counts[code]):
                if rng.random() < 0.03:
                    joined, status = on - timedelta(days=rng.randint(30, 330)), "probationary"
                else:
                    joined, status = on - timedelta(days=rng.randint(400, 50 * 365)), "full"
                self.enroll(code, joined, status, admitted=False)
                yield

    def random_acts(self, day: date) -> Iterator[None]:
        scale, population = self.scale, len(self.numbers)
        per_day = population / 365
        for _ in range(self.poisson(scale.transfer_rate * per_day)):
            self.request(day)
            yield
        for _ in range(self.poisson(scale.admission_rate * per_day)):
            code = self.rng.choice(self.holding)
            if self.org(code).status == "active":
                self.enroll(code, day, "probationary", admitted=True)
                yield
        for _ in range(self.poisson(scale.death_rate * per_day)):
            self.gone(None)
            yield
        for _ in range(self.poisson(scale.leave_rate * per_day)):
            reason = self.rng.choices(("self_withdrawal", "withdrew", "expelled"), (6, 2, 2))[0]
            self.gone(reason)
            yield
        for _ in range(self.poisson(scale.temporary_rate * per_day)):
            self.certificate(day, "temporary")
            yield
        for _ in range(self.poisson(scale.mobile_rate * per_day)):
            self.certificate(day, "mobile")
            yield
        for _ in range(self.poisson(scale.dissolutions / 365)):
            self.dissolve()
            yield
        for _ in range(self.poisson(scale.moves / 365)):
            self.move()
            yield

    def run_agenda(self, day: date) -> Iterator[None]:
        while self.agenda and self.agenda[0][0] <= day:
            _, _, action, argument = heapq.heappop(self.agenda)
            getattr(self, f"do_{action}")(day, argument)
            yield

    def pick_member(self, tries: int = 12) -> Member | None:
        for _ in range(tries):
            member = self.member(self.numbers[self.rng.randrange(len(self.numbers))])
            if member.place == "held" and member.transfer_id is None:
                return member
        return None

    # --- what benchmarks query -----------------------------------------------------------

    def samples(self) -> dict[str, Any]:
        """Typical targets for queries: the root, a median committee and one of its branches."""
        sizes: Counter[str] = Counter()
        for code in self.holding:
            org = self.org(code)
            if org.status == "active":
                sizes[code] = len(org.members)
        committee_sizes = Counter[str]()
        for code, size in sizes.items():
            committee_sizes[self.committee_of(code)] += size
        committees = sorted((n, c) for c, n in committee_sizes.items() if self.org(c).kind == "committee")
        committee = committees[len(committees) // 2][1]
        branches = sorted((sizes[c], c) for c in self.holding_in[committee] if c in sizes)
        branch = branches[len(branches) // 2][1]
        root = next(c for c, s in self.specs.items() if s.parent is None and not s.outside)
        end = self.scale.end
        last_month = end.replace(day=1) - timedelta(days=1)
        as_of = self.scale.start + (end - self.scale.start) / 2
        return {"root": root, "committee": committee, "branch": branch, "today": end.isoformat(),
                "month": month_text(last_month), "as_of": as_of.isoformat(),
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
    # The simulation's commands decide on aggregates in memory: room for every member and
    # organization (and their claims) of the scale, so none is read back from the store.
    env["LEDGER_AGGREGATE_CACHE"] = os.environ.get("LEDGER_AGGREGATE_CACHE") or str(
        max(10_000, 2 * (scale.members + scale.outside_members) + 100_000))
    return Ledger(env, today=lambda: scale.end)


def create_schema(database_url: str) -> None:
    """Create the `?schema=` of a PostgreSQL URL if it is missing."""
    import psycopg
    from psycopg import sql

    from domain.settings import parse_database_url

    url = parse_database_url(database_url)
    if url.schema:
        with psycopg.connect(**url.connect_args(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(url.schema)))
