"""What an import looks up in the store, it looks up in bulk (a query per thousand ids) on
the ledger's own recorders of both stores, never a query per row."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from api.importing import first_stored_events
from domain.identifiers import organization_id
from domain.ledger import Ledger
from domain.organization import Organization


def test_first_events_are_read_in_one_query_not_one_per_aggregate(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(5):
        ledger.register_root(f"R{n}", f"根{n}", "320102", on=date(2020, 1, 1))

    def one_by_one(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an aggregate's events were read one query each")

    monkeypatch.setattr(ledger.recorder, "select_events", one_by_one)
    ids = [organization_id(f"R{n}") for n in range(7)]  # two the store lacks
    found = first_stored_events(ledger, ids)
    assert sorted(s.originator_id for s in found) == sorted(ids[:5])
    events = [ledger.mapper.to_domain_event(s) for s in found]
    assert {e.code for e in events if isinstance(e, Organization.Registered)} == {f"R{n}" for n in range(5)}
