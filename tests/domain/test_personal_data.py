"""The mapper that seals personal fields (domain/personal.py), without a database: any
member's record round-trips exactly (values, types, key order), its stored bytes hold none
of the personal text, the projections' decoder reads it as the mapper does, and a sealed
value is bound to its own event and key."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st

from domain.base import Context
from domain.identifiers import check_character
from domain.member import CATEGORIES, GENDERS, Member
from domain.personal import DataKeyError, DataKeys, PersonalDataMapper, PersonalDataUnreadable, new_key_entry
from domain.transcodings import TRANSCODINGS
from projections.decoding import EventDecoder

CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=2, max_size=30)


def mapper(keys: str) -> PersonalDataMapper:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), *TRANSCODINGS):  # the application's
        transcoder.register(transcoding)
    return PersonalDataMapper(transcoder=transcoder, keys=DataKeys(keys))


KEYS = new_key_entry("k1")
MAPPER = mapper(KEYS)


def enrolled(name: str, birth: date, workplace: str | None, residence: str | None, gender: str,
             category: str, n: int = 1) -> Any:
    first17 = f"32010220150701{n:03d}"
    member = Member.enroll(
        Context(on=date(2026, 1, 5)), Member.Imported, registration_no=first17 + check_character(first17), name=name,
        gender=gender, birth_date=birth, category=category, household_region="320102", workplace=workplace,
        residence=residence, joined_on=date(2015, 7, 1), status="full", probation_ends_on=None,
        organization_code="XW-C1-B1", id_digest="ab" * 32,
    )
    return member.collect_events()[0]


@given(name=CJK, birth=st.dates(date(1921, 1, 1), date(1997, 1, 1)), workplace=st.none() | CJK,
       residence=st.none() | CJK, gender=st.sampled_from(GENDERS), category=st.sampled_from(CATEGORIES))
def test_a_members_record_round_trips_exactly_and_is_stored_without_its_personal_text(
    name: str, birth: date, workplace: str | None, residence: str | None, gender: str, category: str,
) -> None:
    event = enrolled(name, birth, workplace, residence, gender, category)
    stored = MAPPER.to_stored_event(event)
    for secret in (name, birth.isoformat(), workplace, residence):
        if secret:
            assert secret.encode() not in stored.state
    assert b'"gender":null,"birth_date":null,"category":null' in stored.state
    plain = Mapper(transcoder=MAPPER.transcoder)  # the library's, which stores everything in plain
    before = plain.to_domain_event(plain.to_stored_event(event))
    read = MAPPER.to_domain_event(stored)
    assert type(read) is type(event) and repr(vars(read)) == repr(vars(before))  # values, types, order
    decoder = EventDecoder(MAPPER)
    fast = decoder.decode_row((1, stored.originator_id, stored.originator_version, stored.topic, stored.state))
    assert decoder.fallbacks == 0 and repr(vars(fast)) == repr(vars(before))


def test_a_sealed_value_is_bound_to_its_event_and_to_its_key() -> None:
    first, second = (MAPPER.to_stored_event(enrolled(name, date(1980, 1, 1), None, None, "male", "worker", n))
                     for n, name in ((1, "张三"), (2, "李四")))
    moved = StoredEvent(originator_id=second.originator_id, originator_version=second.originator_version,
                        topic=second.topic, state=first.state)  # one member's sealed fields on another
    with pytest.raises(PersonalDataUnreadable, match="do not decrypt"):
        MAPPER.to_domain_event(moved)
    with pytest.raises(PersonalDataUnreadable, match="do not decrypt"):
        EventDecoder(MAPPER).decode_row((1, moved.originator_id, 1, moved.topic, moved.state))
    with pytest.raises(PersonalDataUnreadable, match="'k1', which LEDGER_DATA_KEYS does not hold"):
        mapper(new_key_entry("k2")).to_domain_event(first)
    rotated = mapper(f"{new_key_entry('k2')},{KEYS}")
    assert rotated.to_domain_event(first).name == "张三"  # type: ignore[attr-defined]
    assert b'"_personal_":"k2:' in rotated.to_stored_event(enrolled("王五", date(1980, 1, 1), None, None,
                                                                   "male", "worker")).state
    assert MAPPER.to_stored_event(MAPPER.to_domain_event(first)).state != first.state  # a fresh nonce each time


@pytest.mark.parametrize(("text", "says"), [
    ("", "must be set"),
    ("k1", "32 bytes"),
    ("k1:" + "A" * 10, "32 bytes"),
    ("k 1:" + "A" * 43, "needs an id"),
    ("k１:" + "A" * 43, "needs an id"),  # a fullwidth digit is not an id's character
    (f"{KEYS},{KEYS}", "appears twice"),
], ids=["missing", "no key", "short key", "space in the id", "fullwidth digit in the id", "id twice"])
def test_malformed_data_keys_are_refused_naming_the_setting_never_the_key(text: str, says: str) -> None:
    with pytest.raises(DataKeyError, match=says) as refused:
        DataKeys(text)
    assert "LEDGER_DATA_KEYS" in str(refused.value)
    assert KEYS.split(":")[1] not in str(refused.value)
