"""A working copy of an aggregate (what every command changes) shares nothing that can change
with the aggregate it was copied from: its indexes and its pending events are its own."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import eventsourcing.domain
import pytest

from domain import base
from domain.base import Context, LedgerAggregate
from domain.idclaim import IdClaim
from domain.identifiers import make_registration_no
from domain.member import Member
from domain.organization import Organization

CTX = Context(on=date(2020, 1, 1))


def test_a_copy_changes_alone() -> None:
    registered = Context(on=date(2019, 6, 1))  # before the month filed below
    root = Organization.register(registered, "R", "根", "department", None, "320102")
    branch = Organization.register(registered, "R-B", "支部", "service_center", root, "320102")
    branch.attach_member(CTX, "32010220150701001X")
    branch.take_number(CTX, "letter-2020", "a")
    before = (dict(branch.members), dict(branch.counters), list(branch.filed_months), len(branch.pending_events))

    copied = copy.deepcopy(branch)
    assert (copied.members, copied.counters, copied.version) == (branch.members, branch.counters, branch.version)
    copied.attach_member(CTX, "320102201507010028")
    copied.take_number(CTX, "letter-2020", "b")
    copied.file_month(CTX, "2019-12")

    assert (dict(branch.members), dict(branch.counters), list(branch.filed_months),
            len(branch.pending_events)) == before
    assert len(copied.members) == 2 and copied.counters["letter-2020"] == 2 and copied.filed_months == ["2019-12"]
    assert len(copied.pending_events) == before[3] + 3


def created(ctx: Context) -> list[LedgerAggregate]:
    """An organization, a member imported into it, its resident-ID claim, and an admission."""
    root = Organization.register(ctx, "R", "根", "department", None, "320102")
    branch = Organization.register(ctx, "R-B", "支部", "branch", root, "320102")
    fields = dict(organization_code="R-B", id_digest="ab" * 32, status="full", name=" 张三 ", gender="male",
                  birth_date=date(1980, 1, 1), joined_on=date(2015, 7, 1), probation_ends_on=None,
                  category="worker", household_region="320102", workplace="e\u0301", residence=None)
    member = Member.enroll(ctx, Member.Imported, registration_no=make_registration_no("320102", date(2015, 7, 1), 1),
                           **fields)
    admitted = Member.enroll(ctx, Member.Admitted, **{
        **fields, "registration_no": make_registration_no("320102", date(2015, 7, 1), 2), "status": "probationary"})
    return [root, branch, member, admitted, IdClaim.claim(ctx, "ab" * 32, member.registration_no)]


def test_an_aggregate_is_created_as_eventsourcings_own_create_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """LedgerAggregate._create's direct path (domain/base.py) makes the same aggregate, with
    the same pending event, as the library's generic one."""
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: now)
    ctx = Context(on=date(2020, 1, 1), request_id="import-0123456789ab-2")
    direct = created(ctx)
    assert all(base._plain_creation(type(a), type(a.pending_events[0])) for a in direct)  # the direct path ran
    monkeypatch.setattr(base, "_plain_creation", lambda cls, event_class: False)
    generic = created(ctx)
    for made, expected in zip(direct, generic, strict=True):
        assert type(made) is type(expected)
        assert vars(made) == vars(expected)  # state, id, version, times and the pending event (all its fields)
    assert direct[2].workplace == "\u00e9" and direct[2].name == "张三"
