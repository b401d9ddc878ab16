"""How far the views trail the log is visible: `ledger status` and `GET /v1/audit/verify`
carry `lag: {log_position, views_position, behind}`, and `ledger verify` says when its
answer is for a position the log has moved past. Both stores.

The views here are left behind on purpose: they are brought up to some position, then more
events are recorded with nothing applying them (as when the process that applies them is
stuck). `behind` is checked against the events the log itself lists after the views'
position (positions have gaps, so their difference is not the count).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from api.cli import app
from domain.ledger import Ledger
from tests.api.test_read_waits import WaitingApi
from tests.conftest import Store
from tests.factories import admit, build_tree

runner = CliRunner()


def events_after(ledger: Ledger, position: int) -> int:
    return sum(1 for _ in ledger.read_events(after=position))


@pytest.fixture
def behind(env: Store) -> Iterator[tuple[Ledger, int]]:
    """A store whose views stand at a position, with events recorded after it: the ledger
    and the views' position."""
    ledger = env.ledger()
    build_tree(ledger)
    engine = env.engine(ledger)
    views_position = engine.catch_up()
    admit(ledger, 1, "XW-C1-B1")
    admit(ledger, 2, "XW-C1-B1")
    assert ledger.max_position() > views_position
    yield ledger, views_position


def test_status_says_how_far_the_views_trail_the_log(behind: tuple[Ledger, int]) -> None:
    ledger, views_position = behind
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    lag = json.loads(result.stdout)["lag"]
    assert lag == {"log_position": ledger.max_position(), "views_position": views_position,
                   "behind": events_after(ledger, views_position)}
    assert lag["behind"] > 0
    assert json.loads(runner.invoke(app, ["status", "--field", "lag"]).stdout) == lag


def test_verify_says_its_answer_is_for_a_stale_position(behind: tuple[Ledger, int], env: Store) -> None:
    ledger, views_position = behind
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output  # the views are right, as far as they go
    body = json.loads(result.stdout)
    assert body["ok"] and body["position"] == views_position
    count = events_after(ledger, views_position)
    assert body["lag"] == {"log_position": ledger.max_position(), "views_position": views_position,
                           "behind": count}
    assert f"the views trail the log by {count} events" in result.stderr
    assert f"for position {views_position}" in result.stderr

    env.engine(ledger).catch_up()  # current again: nothing said
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lag"]["behind"] == 0
    assert "trail" not in result.stderr
    current = json.loads(runner.invoke(app, ["status"]).stdout)["lag"]
    assert current["behind"] == 0 and current["views_position"] == current["log_position"]


def test_audit_verify_says_how_far_the_views_trail_the_log(store: Store) -> None:
    api = WaitingApi(store, "worker")  # no worker runs: the views stay where they are
    try:
        ledger = api.services.ledger
        _, token = ledger.grant_operator("auditor", "auditor", "JS")
        api.services.engine.catch_up()
        auditor = api.client.as_(token)
        current = auditor.get("/v1/audit/verify").json()
        assert current["ok"] and current["lag"]["behind"] == 0
        views_position = current["position"]
        assert current["lag"]["views_position"] == views_position
        admit(ledger, 1, "XW-C1-B1")
        stale = auditor.get("/v1/audit/verify").json()
        assert stale["ok"] and stale["position"] == views_position
        assert stale["lag"] == {"log_position": ledger.max_position(), "views_position": views_position,
                                "behind": events_after(ledger, views_position)}
        assert stale["lag"]["behind"] > 0
    finally:
        api.close()
