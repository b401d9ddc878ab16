"""API tests go through `ApiClient`, on both stores, against the app with fixed "today"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.services import Services
from domain.settings import Settings
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import build_tree


class ApiClient:
    """A client acting as one operator (or none)."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client, self.token = client, token

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def post(self, path: str, body: Any = None, *, key: str | None = None, **headers: str) -> Response:
        return self.client.post(path, json=body if body is not None else {}, headers=self.headers(key, **headers))

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Response:
        return self.client.get(path, params=params, headers={**self.headers(), **(headers or {})})

    def as_(self, token: str | None) -> ApiClient:
        return ApiClient(self.client, token)


class Api:
    """The app on one store, the tree of tests/factories.py, and operators:
    tokens["admin"] (province JS), ["xw_admin"], ["xw_clerk"] (committee XW-C1),
    ["qh_clerk"] (committee QH-C1), ["auditor"] (JS), ["xw_auditor"], ["b1_clerk"] (branch)."""

    def __init__(self, store: Store) -> None:
        settings = Settings(database_url=store.url, id_key=TEST_ID_KEY)  # type: ignore[arg-type]
        self.services = Services(settings, today=lambda: TODAY)
        self.ledger = self.services.ledger
        build_tree(self.ledger)
        self.tokens: dict[str, str] = {}
        self.operator_ids: dict[str, str] = {}
        for label, role, org in (
            ("admin", "admin", "JS"), ("xw_admin", "admin", "XW"), ("xw_clerk", "clerk", "XW-C1"),
            ("qh_clerk", "clerk", "QH-C1"), ("auditor", "auditor", "JS"), ("xw_auditor", "auditor", "XW"),
            ("b1_clerk", "clerk", "XW-C1-B1"), ("sc_clerk", "clerk", "SC-C1"),
        ):
            recorded, token = self.ledger.grant_operator(label, role, org)
            self.tokens[label], self.operator_ids[label] = token, str(recorded.code)
        self.app = create_app(services=self.services)
        self.test_client = TestClient(self.app, raise_server_exceptions=False)
        self.test_client.__enter__()

    def client(self, label: str | None = "admin") -> ApiClient:
        return ApiClient(self.test_client, self.tokens[label] if label else None)

    def close(self) -> None:
        self.test_client.__exit__(None, None, None)
        self.services.close()


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    api = Api(store)
    yield api
    api.close()


def member_body(n: int, org: str = "XW-C1-B1", **overrides: Any) -> dict[str, Any]:
    from tests.factories import person

    fields = person(n)
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
    body.update(organization_code=org, status="full", on="2020-06-01")
    body.update(overrides)
    return body
