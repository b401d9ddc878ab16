"""A working copy of an aggregate (what every command changes) shares nothing that can change
with the aggregate it was copied from: its indexes and its pending events are its own."""

from __future__ import annotations

import copy
from datetime import date

from domain.base import Context
from domain.organization import Organization

CTX = Context(on=date(2020, 1, 1))


def test_a_copy_changes_alone() -> None:
    root = Organization.register(CTX, "R", "根", "department", None, "320102")
    branch = Organization.register(CTX, "R-B", "支部", "service_center", root, "320102")
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
