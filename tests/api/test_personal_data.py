"""Personal data at rest through the API, on both stores: the audit stream gives each
member's record as it was recorded; a server whose data key doesn't open the stored events
answers 503 `not_ready` naming nothing personal, never a 500 or a traceback."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from domain.personal import new_key_entry
from domain.settings import Settings
from tests.api.conftest import Api, ApiClient
from tests.conftest import TEST_ID_KEY, TODAY
from tests.factories import admit, person


def test_the_audit_stream_gives_the_record_and_a_wrong_key_is_503_naming_nothing_personal(api: Api) -> None:
    number = admit(api.ledger, 11, workplace="南京某某研究所")
    stream = api.client("auditor").get("/v1/audit/events", limit=5000)
    assert stream.status_code == 200
    record = next(e["data"] for e in stream.json()["data"] if e["type"] == "Member.Imported")
    assert (record["registration_no"], record["name"], record["birth_date"], record["workplace"]) == (
        number, person(11)["name"], person(11)["birth_date"].isoformat(), "南京某某研究所")

    wrong = Settings(database_url=api.services.settings.database_url, id_key=TEST_ID_KEY,  # type: ignore[arg-type]
                     data_keys=new_key_entry("test1"))  # the same id, another key
    services = Services(wrong, today=lambda: TODAY)
    try:
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            answer = ApiClient(client, api.tokens["auditor"]).get("/v1/audit/events", limit=5000)
            assert answer.status_code == 503, answer.text
            problem = answer.json()
            assert problem["code"] == "not_ready" and "data keys" in problem["detail"]
            assert person(11)["name"] not in answer.text and "Traceback" not in answer.text
    finally:
        services.close()
