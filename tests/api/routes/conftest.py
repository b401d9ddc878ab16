"""The tests of api/routes/, one module per router: every endpoint of shared/API.md through
HTTP, what it answers, each refusal it can give (status, problem+json body, stable code) and
that a refusal records nothing.

Each module shares one app per store (module scope, built once on SQLite and once on
PostgreSQL); each test makes its own members, transfers and, where a figure must be exact or
a month gets filed, its own organizations, so the tests don't see each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Api
from tests.conftest import Store


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    yield api
    api.close()
