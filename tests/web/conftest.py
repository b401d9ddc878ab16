"""The web pages on both stores: the API's test tree and operators, a few members and
letters, and a browser-like client per operator (cookies, CSRF token from the pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from domain.ledger import Ledger
from tests.api.conftest import Api
from tests.conftest import Store
from tests.factories import admit

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@dataclass
class Scenario:
    """inbound: a letter from QH-C1-B1 to XW-C1-B2, issued, not received (in XW's inbox);
    requested: a request from XW-C1-B1 to QH-C1-B1 not yet issued (in XW's outbox);
    foreign: a member of the other province (SC) with a letter to QH, seen by no XW operator."""

    inbound_member: str
    inbound: str
    inbound_letter: str
    local_member: str
    requested: str
    foreign_member: str
    foreign: str


def build_scenario(ledger: Ledger) -> Scenario:
    inbound_member = admit(ledger, 1, "QH-C1-B1")
    local_member = admit(ledger, 2, "XW-C1-B1")
    stayer = admit(ledger, 4, "XW-C1-B1")
    foreign_member = admit(ledger, 3, "SC-C1-B1")
    assert stayer
    on = date(2026, 11, 10)
    inbound = ledger.request_transfer(inbound_member, "XW-C1-B2", reason="job_change", basis="household", on=on)
    issued = ledger.issue_letter(inbound.transfer_id or "", on=on)
    requested = ledger.request_transfer(local_member, "QH-C1-B1", reason="graduation", basis="household", on=on)
    foreign = ledger.request_transfer(foreign_member, "QH-C1-B1", reason="other", basis="household", on=on)
    ledger.issue_letter(foreign.transfer_id or "", on=on)
    return Scenario(inbound_member, inbound.transfer_id or "", issued.letter_no or "", local_member,
                    requested.transfer_id or "", foreign_member, foreign.transfer_id or "")


class WebClient:
    """A browser-like client signed in as one operator (or not signed in)."""

    def __init__(self, api: Api, label: str | None) -> None:
        self.client = TestClient(api.app, raise_server_exceptions=False, follow_redirects=False)
        self.csrf = ""
        if label is not None:
            signed = self.sign_in(api.tokens[label])
            assert signed.status_code == 303, signed.text
            self.csrf = CSRF.search(self.get("/web/").text).group(1)  # type: ignore[union-attr]

    def sign_in(self, token: str) -> Response:
        page = self.client.get("/web/sign-in")
        nonce = NONCE.search(page.text).group(1)  # type: ignore[union-attr]
        return self.client.post("/web/sign-in", data={"token": token, "nonce": nonce, "next": "/web/"})

    def get(self, path: str, **params: str) -> Response:
        return self.client.get(path, params=params or None)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> Response:
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf
        return self.client.post(path, data=body)


@pytest.fixture
def web(store: Store) -> Iterator[tuple[Api, Scenario]]:
    api = Api(store)
    scenario = build_scenario(api.ledger)
    yield api, scenario
    api.close()
