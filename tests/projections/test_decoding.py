"""The engine's event decoder builds exactly what the library's mapper builds: the same
class and the same attributes in the same order, for every event of a generated history
on both stores, for arbitrary states (hypothesis), and through the mapper itself wherever
it can't be sure (a `class_version`, a number beyond 64 bits, a compressor)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.simulation import SCALES, generate
from domain.idclaim import IdClaim
from domain.ledger import Ledger
from domain.member import Member
from domain.organization import Organization
from domain.transcodings import TRANSCODINGS
from projections.decoding import EventDecoder, fast_path_possible
from projections.reading import NotificationReader, as_notification
from tests.conftest import Store

DUES_TOPIC = get_topic(Member.DuesPaid)


def notifications(ledger: Ledger) -> list[Notification]:
    found: list[Notification] = []
    while page := ledger.recorder.select_notifications(
        start=found[-1].id if found else 0, limit=500, inclusive_of_start=False
    ):
        found.extend(page)
    return found


def same(decoded: Any, mapped: Any) -> bool:
    """The same class, and the same attributes in the same order with the same values: their
    reprs show the values' types too, and compare NaN (unequal to itself) and -0.0."""
    return type(decoded) is type(mapped) and repr(vars(decoded)) == repr(vars(mapped))


def test_every_event_of_a_generated_history_decodes_as_the_mapper_decodes_it(store: Store) -> None:
    scale = SCALES["small"]
    ledger = store.ledger(today=lambda: scale.end)
    stats = generate(ledger, scale, seed=5)
    granted, _ = ledger.grant_operator("审计员", "auditor", stats["samples"]["root"])
    assert granted.code is not None
    ledger.revoke_operator(granted.code)
    stored = notifications(ledger)
    decoder = EventDecoder(ledger.mapper)
    assert decoder.fast
    topics = set()
    for notification in stored:
        decoded, mapped = decoder.decode(notification), ledger.mapper.to_domain_event(notification)
        assert same(decoded, mapped), (notification.id, notification.topic)
        topics.add(notification.topic)
    assert decoder.fallbacks == 0  # every event on the fast path
    assert len(stored) > 3000 and len(topics) > 25  # every kind of case of the simulation

    # The engine's reader gives the same notifications, page by page (as tuples,
    # decoded by `decode_row()` into the same events).
    reader = NotificationReader(ledger.recorder)
    assert reader.rows
    read: list[Any] = []
    while page := reader.select(reader.position(read[-1]) if read else 0, 700, stored[-5].id):
        assert len(page) <= 700
        read.extend(page)
    assert len(read) == len(stored) - 4  # up to `stop`, inclusive
    for item, notification in zip(read, stored, strict=False):
        again = as_notification(item)
        assert (again.id, again.originator_id, again.originator_version, again.topic, again.state) == (
            notification.id, notification.originator_id, notification.originator_version, notification.topic,
            notification.state)
        assert type(again.originator_id) is type(notification.originator_id)
        assert str(again.originator_id) == str(notification.originator_id)
        decoded = decoder.decode_row(item) if reader.rows else decoder.decode(item)
        assert same(decoded, ledger.mapper.to_domain_event(notification)), notification.id
    assert reader.select(stored[-1].id, 10) == []
    assert decoder.fallbacks == 0


def test_the_reader_passes_over_the_topics_it_is_told_to_skip_and_still_counts_their_events(store: Store) -> None:
    scale = SCALES["small"]
    ledger = store.ledger(today=lambda: scale.end)
    generate(ledger, scale, seed=5)
    stored = notifications(ledger)
    skipped = {get_topic(IdClaim.Claimed), get_topic(Organization.MemberAttached)}
    reader = NotificationReader(ledger.recorder, sorted(skipped))
    plain = NotificationReader(ledger.recorder)
    # Up to a skipped event, so that the last page ends on an event it passes over.
    stop = next(n.id for n in reversed(stored[:-3]) if n.topic in skipped)
    start, pages, read = 0, 0, []
    while True:
        page, end, count = reader.select_range(start, 300, stop)
        if not count:
            assert (page, end) == ([], start)
            break
        events = [n for n in stored if start < n.id <= stop][:300]  # the page, as `select()` pages
        assert (count, end) == (len(events), events[-1].id)
        assert page == [row for row in plain.select(start, 300, stop) if row[3] not in skipped]
        read.extend(page)
        start, pages = end, pages + 1
    assert start == stop and pages > 1
    assert [reader.position(row) for row in read] == [n.id for n in stored if n.id <= stop and n.topic not in skipped]
    assert 0 < len(read) < len([n for n in stored if n.id <= stop])  # some were passed over, not all
    assert reader.select_range(stored[-1].id, 10) == ([], stored[-1].id, 0)


def test_an_event_the_decoder_is_not_sure_of_goes_through_the_mapper(ledger: Ledger) -> None:
    decoder = EventDecoder(ledger.mapper)
    transcoder = ledger.mapper.transcoder
    state = {"timestamp": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "on": date(2026, 1, 2), "actor": "clerk",
             "actor_organization": None, "request_id": "r1", "month": "2026-01", "amount": Decimal("12.50")}
    cases = {
        "class_version": {**state, "class_version": 1},  # the mapper drops it (and would upcast)
        "a number beyond 64 bits": {**state, "request_id": 2**64 + 1},
        "a negative one": {**state, "request_id": -(2**63) - 1},
        "a float": {**state, "request_id": 0.1},
    }
    decoded: dict[str, Any] = {}
    for case, fields in cases.items():
        notification = Notification(id=1, originator_id=uuid.uuid4(), originator_version=3, topic=DUES_TOPIC,
                                    state=transcoder.encode(fields))
        before = decoder.fallbacks
        decoded[case] = decoder.decode(notification)
        assert decoder.fallbacks == before + 1, case
        assert same(decoded[case], ledger.mapper.to_domain_event(notification)), case
        row = (notification.id, notification.originator_id, 3, DUES_TOPIC, notification.state)
        assert same(decoder.decode_row(row), decoded[case]), case  # as a tuple: the same way
        assert decoder.fallbacks == before + 2, case
    assert "class_version" not in vars(decoded["class_version"])
    assert decoded["a number beyond 64 bits"].request_id == 2**64 + 1  # orjson would make it a float
    assert decoded["a float"].request_id == 0.1

    # An error is the mapper's own error.
    broken = Notification(id=1, originator_id=uuid.uuid4(), originator_version=3, topic=DUES_TOPIC,
                          state=b'{"on": {"_type_": "no_such_type", "_data_": "x"}}')
    with pytest.raises(Exception) as by_decoder:
        decoder.decode(broken)
    with pytest.raises(Exception) as by_mapper:
        ledger.mapper.to_domain_event(broken)
    assert type(by_decoder.value) is type(by_mapper.value) and str(by_decoder.value) == str(by_mapper.value)


def test_a_compressed_store_is_decoded_by_the_mapper(store: Store) -> None:
    ledger = store.ledger(COMPRESSOR_TOPIC="eventsourcing.compressor:ZlibCompressor")
    ledger.register_organization("JS", "江苏省委组织部", "department", None, "320000")
    decoder = EventDecoder(ledger.mapper)
    assert not decoder.fast and not fast_path_possible(ledger.mapper)
    for notification in notifications(ledger):
        assert same(decoder.decode(notification), ledger.mapper.to_domain_event(notification))


# --- arbitrary states ------------------------------------------------------------------------


def library_mapper() -> Mapper[Any]:
    """A mapper with the ledger's transcodings (`Ledger.register_transcodings`)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), *TRANSCODINGS):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


MAPPER = library_mapper()
# Mostly plain keys; now and then one the transcoder or the mapper reads.
KEYS = st.sampled_from(["a", "b", "c", "on", "x", "y", "名称", "", "_type_", "_data_", "class_version"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.text(max_size=6),
    st.integers(), st.integers(min_value=2**62, max_value=2**70), st.integers(min_value=-(2**70), max_value=-(2**62)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(), st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=8))])),
    st.decimals(allow_nan=False, places=2), st.uuids(),
    st.sampled_from(["date_iso", "datetime_iso", "decimal_str", "uuid_hex", "2024-05-15"]),
)


def transcoded(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """What the encoder writes for a transcoded value, made by hand: mostly right, now and
    then with another type's data, an unknown type, or data of any shape."""
    right = st.sampled_from([("date_iso", "2024-05-15"), ("decimal_str", "1.50"), ("decimal_str", "-0"),
                             ("uuid_hex", "9f1c2b3a4d5e6f708192a3b4c5d6e7f8"), ("datetime_iso", "2024-05-15T08:00:00")])
    wrong = st.tuples(st.sampled_from(["date_iso", "decimal_str", "uuid_hex", "nope"]),
                      st.one_of(inner, st.just("1.50")))
    pair = st.tuples(st.integers(0, 19), right, wrong).map(lambda drawn: drawn[2] if drawn[0] == 7 else drawn[1])
    return pair.map(lambda chosen: {"_type_": chosen[0], "_data_": chosen[1]})


VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3), transcoded(inner),
), max_leaves=12)
STATES = st.one_of(st.dictionaries(KEYS, VALUES, max_size=6), transcoded(VALUES))


@settings(max_examples=400, deadline=None)
@given(state=STATES, raw=st.booleans())
@example(state={"a": {"_type_": "decimal_str", "_data_": 2**64 + 1}}, raw=False)  # orjson: a float
@example(state={"a": [1, {"b": -(2**63) - 1}]}, raw=False)
@example(state={"_type_": "date_iso", "_data_": "2024-05-15"}, raw=False)  # the state itself a date
@example(state={"on": {"_type_": "nope", "_data_": {"_type_": "date_iso", "_data_": "2024-05-15"}}}, raw=False)
@example(state={"class_version": 1, "a": 1}, raw=False)
def test_arbitrary_states_decode_as_the_mapper_decodes_them(state: dict[str, Any], raw: bool) -> None:
    try:
        # Through the transcoder (as events are stored), or as plain JSON whose dicts may
        # look transcoded (as a hand-made or foreign state might).
        data = json.dumps(state, default=str).encode() if raw else MAPPER.transcoder.encode(state)
    except Exception:
        return
    notification = Notification(id=1, originator_id=uuid.uuid4(), originator_version=1, topic=DUES_TOPIC, state=data)
    decoder = EventDecoder(MAPPER)
    assert decoder.fast
    try:
        mapped = MAPPER.to_domain_event(notification)
    except Exception as error:
        with pytest.raises(type(error)):
            decoder.decode(notification)
        return
    assert same(decoder.decode(notification), mapped)


def test_a_receipt_stored_before_presenters_were_asked_reads_as_presented_by_the_member(store: Store) -> None:
    """Receipts recorded before `presented_by` and `agent_name` existed have neither field in
    their stored state: the mapper and the engine's decoder both read them with the event
    class's defaults (the member presented the letter, no agent), and the transfer rebuilt
    from them says so."""
    from domain.transfer import Transfer
    from tests.factories import admit, build_tree

    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1)
    transfer_id = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                          on=date(2026, 9, 1)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2026, 9, 1))
    ledger.receive_member(transfer_id, "QH-C1-B1", presented_by="agent", agent_name="张代办", on=date(2026, 9, 2))
    stored = [n for n in notifications(ledger) if n.topic == get_topic(Transfer.MemberReceived)]
    assert len(stored) == 1
    state = json.loads(stored[0].state)
    assert (state.pop("presented_by"), state.pop("agent_name")) == ("agent", "张代办")
    old = Notification(id=stored[0].id, originator_id=stored[0].originator_id,
                       originator_version=stored[0].originator_version, topic=stored[0].topic,
                       state=json.dumps(state).encode())
    decoder = EventDecoder(ledger.mapper)
    for event in (decoder.decode(old), ledger.mapper.to_domain_event(old)):
        assert isinstance(event, Transfer.MemberReceived)
        assert (event.presented_by, event.agent_name) == ("member", None)
        assert "presented_by" not in vars(event)
    events = [ledger.mapper.to_domain_event(n) for n in notifications(ledger)
              if n.originator_id == stored[0].originator_id and n.id != old.id] + [ledger.mapper.to_domain_event(old)]
    transfer: Any = None
    for event in sorted(events, key=lambda e: e.originator_version):
        transfer = event.mutate(transfer)
    assert (transfer.status, transfer.presented_by, transfer.agent_name) == ("received", "member", None)
