"""Property-based fuzzing of the whole OpenAPI document (schemathesis), on both stores.

Every operation of /openapi.json, as the province's admin and with no identity (no token, or
one made up): schemathesis's examples, coverage (boundary values, each field missing or
wrong, methods the path doesn't declare) and fuzzing phases, with data the schema allows and
data it refuses, under every check schemathesis has: no 5xx; each status, content type,
body and response header as the document declares; data the schema allows is accepted and
data it refuses is refused; an undeclared method is 405 with `Allow`; no operation answers
2xx without a token. And ours: every error is application/problem+json with a code of API.md,
and a read records nothing.

Bounded and reproducible: a fixed seed, derandomized, no shrinking, LEDGER_FUZZ_EXAMPLES
examples per operation in the fuzzing phase (the coverage phase's cases are as many as the
schema's boundaries; without a token, the fuzzing phase alone). At the end of each store's
run the counts of the requests the test sent (the checks' own probes aside), their statuses
and the 5xx are printed (`pytest -s`) and, with LEDGER_FUZZ_SUMMARY=FILE, appended to FILE
as a JSON line (one a store and a process: under pytest-xdist each worker writes its part).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, settings
from pydantic import SecretStr

from tests.api.conftest import Api
from tests.api.helpers import PROBLEM_KEYS, document_operations, openapi_document
from tests.conftest import Store

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import CHECKS, load_all_checks  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.openapi.checks import RejectedPositiveData  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "4"))  # per operation and identity; raise it to dig
SEED = int(os.environ.get("LEDGER_FUZZ_SEED", "20261120"))  # another seed digs elsewhere
# API.md's codes, `not_ready` for a 503 and `method_not_allowed` for a 405.
CODES = {
    "unauthenticated", "forbidden", "out_of_jurisdiction", "not_found", "validation_error", "future_date",
    "before_last_event", "duplicate_registration", "invalid_registration_no", "member_not_held",
    "transfer_open", "same_organization", "organization_dissolved", "cannot_hold_members",
    "not_in_target_subtree", "invalid_transition", "letter_expired", "validity_too_long", "probation_ending",
    "performance_record_required", "evidence_required", "probation_not_over", "confirmation_due",
    "use_formal_transfer", "period_closed", "idempotency_key_reused", "conflict", "not_ready",
    "method_not_allowed",
}
# 422s on data the schema allows, by rules no JSON Schema can state: the day (nothing effective
# after today), other fields of the request (a certificate valid until after its effective date,
# a member 18 when joining), or the ledger's state (a letter already valid until then).
BEYOND_THE_SCHEMA = (
    ("future_date", ""),
    ("validation_error", "valid_until must be a date after the effective date"),
    ("validation_error", "the letter is already valid until"),
    ("validation_error", "is not over yet: only a past month can be filed"),
    ("validation_error", "joined_on can't be after the effective date"),
    ("validation_error", "a member joins at 18 or older"),
    ("validation_error", "only a department can be a root organization"),
    ("validation_error", "an organization can't be its own successor"),
    # a registration number's date and check character (ISO 7064 MOD 11-2): no pattern says them
    ("invalid_registration_no", ""),
    ("validation_error", "id_card_no must be an 18-character resident ID number"),  # its birth date
    ("validation_error", "joined_on can't be before"),
)
# 422s on data the schema allows because a type doesn't state its form yet; each line goes
# once its type does (none now: every identifier, code, region, month and date has its pattern).
UNTYPED_YET: tuple[tuple[str, str], ...] = ()

load_all_checks()


DOCUMENT = openapi_document("fuzz-only-key-0123456789")
DOCUMENT_OPERATIONS = [(method, path) for method, path, _ in document_operations(DOCUMENT)]


def _schema(phases: list[str], tokens: bool) -> Any:
    """`tokens`: schemathesis makes up bearer tokens (else the test sends one or none)."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
    schema.config.seed = SEED
    schema.config.phases.update(phases=phases)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES, deterministic=True, no_shrink=True, database="none",
                                    with_security_parameters=tokens)
    return schema


SCHEMA = _schema(["examples", "coverage", "fuzzing"], tokens=False)
# Without a token, or with one made up, every operation answers 401 before it reads anything
# (or 422 for a body it can't read): random data suffices.
SCHEMA_WITHOUT_TOKEN = _schema(["fuzzing"], tokens=True)


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> None:
    """Schemathesis's `positive_data_acceptance`, but for the 422s listed above."""
    try:
        positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        body = response.json() if response.status_code == 422 else {}
        words = next((words for code, words in BEYOND_THE_SCHEMA + UNTYPED_YET
                      if body.get("code") == code and words in body.get("detail", "")), None)
        if words is None:
            raise
        STATS["422 by rules beyond the schema" if (body["code"], words) in BEYOND_THE_SCHEMA
              else "422 for types that don't state their form yet", body["code"]] += 1


def problem_json_with_a_code(ctx: Any, response: Any, case: Any) -> None:
    """Every error is application/problem+json with the keys and a code of API.md."""
    if response.status_code < 400:
        return
    kind = (response.headers.get("content-type") or [""])[0]
    assert kind.startswith("application/problem+json"), kind
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == response.status_code, body
    assert body["code"] in CODES, body


CHECKS_RUN = [check for check in CHECKS.get_all() if check is not positive_data_acceptance]
CHECKS_RUN += [positive_data_accepted, problem_json_with_a_code]
STATS: Counter[tuple[str, ...]] = Counter()


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    api.services.settings.read_wait_seconds = 1
    # a checkpoint key, so that GET /v1/audit/checkpoint answers (without one it is 503 by design)
    api.services.settings.checkpoint_key = SecretStr("fuzz-checkpoint-key-" + "f" * 20)
    STATS.clear()
    yield api
    api.close()
    summary = summarize(shared_store.kind)
    print(f"\nfuzz summary: {json.dumps(summary)}")
    if os.environ.get("LEDGER_FUZZ_SUMMARY"):
        with open(os.environ["LEDGER_FUZZ_SUMMARY"], "a", encoding="utf-8") as out:
            out.write(json.dumps(summary) + "\n")


def summarize(store: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"store": store, "operations": len(DOCUMENT_OPERATIONS), "examples": EXAMPLES,
                               "seed": SEED}
    for identity in ("admin", "anonymous"):
        statuses = {key[2]: n for key, n in sorted(STATS.items()) if key[:2] == ("status", identity)}
        summary[identity] = {"requests": sum(statuses.values()), "statuses": statuses,
                             "5xx": sum(n for status, n in statuses.items() if status.startswith("5"))}
    for kind in ("422 by rules beyond the schema", "422 for types that don't state their form yet"):
        summary[kind] = {key[1]: n for key, n in sorted(STATS.items()) if key[0] == kind}
    return summary


def prepare(api: Api, case: Any) -> None:
    """What a client does, the schema can't: a fresh Idempotency-Key for each request (a key
    used again with another request is refused, as test_idempotency.py tests), and a
    `min_position` the store has reached (one it hasn't is the 503 of the contract, which
    test_read_your_writes.py tests)."""
    headers = case.headers or {}
    key = next((name for name in headers if name.lower() == "idempotency-key"), None)
    if key is not None and isinstance(headers[key], str) and len(headers[key]) <= 200 and headers[key].strip():
        headers[key] = uuid4().hex
    position = str((case.query or {}).get("min_position", ""))
    if re.fullmatch("[0-9]+", position) and int(position) > api.ledger.max_position():
        case.query["min_position"] = int(position) % (api.ledger.max_position() + 1)


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_the_admin_as_its_openapi_document_says(case: Any, api: Api) -> None:
    fuzz(api, case, "admin")


@SCHEMA_WITHOUT_TOKEN.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_without_a_token_as_its_openapi_document_says(case: Any, api: Api) -> None:
    fuzz(api, case, "anonymous")


def fuzz(api: Api, case: Any, identity: str) -> None:
    """One request: sent as `identity`, counted, checked."""
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"} if identity == "admin" else {}
    case.operation.schema.app = api.app  # the checks' own requests (a token left out) go to it too
    prepare(api, case)
    before = api.ledger.max_position()
    response = case.call(app=api.app, headers=headers)
    STATS["status", identity, str(response.status_code)] += 1
    case.validate_response(response, checks=CHECKS_RUN, headers=headers,
                           transport_kwargs={"app": api.app, "base_url": "http://testserver"})
    if case.method.upper() == "GET":
        assert api.ledger.max_position() == before, f"{case.operation.label} recorded events"
