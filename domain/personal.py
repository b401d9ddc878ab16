"""Personal data encrypted at rest: the personal fields of stored events, sealed with
AES-GCM under a data key from settings, the key's id stored beside them.

Invariant: no personal field (DOMAIN.md §4: name, gender, birth date, category, household
region, workplace, residence; and the free text written about a member: transfer
evidence, performance record and reasons, certificate purpose, host and contact person)
reaches the event store or the snapshot table in plain text; every other field stays as
it was, readable by SQL and by the projections without a key.

How it is stored: each personal field keeps its place in the event's JSON state with the
value `null`, and the event gains one more field, `_personal_`, holding
`KEY_ID:BASE64(nonce | ciphertext | tag)`; the ciphertext is the JSON (the mapper's own
transcoding) of those fields' real values. The event's identity (originator id, version,
topic) is the authenticated data, so a sealed value copied onto another event, or changed,
does not decrypt. Reading puts the values back in their places: the decoded event is the
event as it was saved, key order included.

Keys: `LEDGER_DATA_KEYS="id1:key1,id2:key2"`, each key 32 random bytes in URL-safe base64
(`new_key_entry()` makes one). The first is current (new events are sealed with it); the
others are kept to read what was sealed with them (README "Personal data at rest").
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.certificate import Certificate
from domain.member import Member
from domain.transfer import Transfer

SETTING = "LEDGER_DATA_KEYS"
FIELD = "_personal_"  # the stored event's field that holds the sealed values
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?", re.ASCII)  # 32 bytes, URL-safe base64
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)  # standard base64, as `seal` writes it
_NONCE = 12

_MEMBER = ("name", "gender", "birth_date", "category", "household_region", "workplace", "residence")
_REASON = ("reason",)
# The personal fields of each event class (and of a member's snapshot, keyed by its topic).
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    get_topic(Member.Admitted): _MEMBER,
    get_topic(Member.Imported): _MEMBER,
    get_topic(Member): _MEMBER,  # the aggregate's state in a snapshot
    get_topic(Transfer.Requested): ("evidence", "performance_record", "probation_override_reason"),
    get_topic(Transfer.Declined): _REASON,
    get_topic(Transfer.Rejected): _REASON,
    get_topic(Transfer.Cancelled): _REASON,
    get_topic(Transfer): ("evidence", "performance_record", "probation_override_reason", "closing_reason"),
    get_topic(Certificate.Issued): ("host_description", "purpose", "contact_person"),
    get_topic(Certificate): ("host_description", "purpose", "contact_person"),
}
_SNAPSHOT_TOPIC = get_topic(Member.Snapshot)


class DataKeyError(ValueError):
    """LEDGER_DATA_KEYS is missing or malformed (a configuration error)."""


class PersonalDataUnreadable(ValueError):
    """A stored event's personal fields can't be decrypted with the keys configured."""


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh `id:key` entry for LEDGER_DATA_KEYS (the id: `k` and today's UTC date and time)."""
    key_id = key_id or datetime.now(UTC).strftime("k%Y%m%d%H%M%S")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"


class DataKeys:
    """The data keys of LEDGER_DATA_KEYS: `current` seals, every one (by id) opens."""

    def __init__(self, text: str) -> None:
        entries = [entry.strip() for entry in (text or "").split(",") if entry.strip()]
        if not entries:
            raise DataKeyError(
                f"{SETTING} must be set: `id:key` entries separated by commas, the current key first "
                "(each key 32 random bytes in URL-safe base64; scripts/run writes one to .env)"
            )
        self._ciphers: dict[str, AESGCM] = {}
        for number, entry in enumerate(entries, 1):
            key_id, _, key_text = entry.partition(":")
            if not _KEY_ID.fullmatch(key_id):
                raise DataKeyError(f"{SETTING}: entry {number} needs an id of 1-32 letters, digits, '_' or '-' "
                                   "before its ':'")
            if key_id in self._ciphers:
                raise DataKeyError(f"{SETTING}: the key id {key_id!r} appears twice")
            if not _KEY_TEXT.fullmatch(key_text):
                raise DataKeyError(f"{SETTING}: the key of {key_id!r} must be 32 bytes in URL-safe base64 "
                                   "(44 characters)")
            try:
                key = base64.urlsafe_b64decode(key_text + "=" * (-len(key_text) % 4))
            except binascii.Error:
                raise DataKeyError(f"{SETTING}: the key of {key_id!r} is not URL-safe base64") from None
            self._ciphers[key_id] = AESGCM(key)
        self.current = entries[0].partition(":")[0]
        self.ids = tuple(self._ciphers)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DataKeys:
        return cls(env.get(SETTING) or "")

    def seal(self, plain: bytes, context: bytes) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self.current].encrypt(nonce, plain, context)
        return f"{self.current}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, sealed: str, context: bytes, where: str) -> bytes:
        """The plain bytes of `seal`'s text; `where` names the event in the error."""
        key_id, _, text = sealed.partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PersonalDataUnreadable(
                f"the personal fields of {where} were sealed with the data key {key_id!r}, which {SETTING} "
                f"does not hold (it holds {', '.join(self.ids)}): add that key after the current one"
            )
        try:
            data = base64.b64decode(text, validate=True)
            return cipher.decrypt(data[:_NONCE], data[_NONCE:], context)
        except (InvalidTag, binascii.Error, ValueError):
            raise PersonalDataUnreadable(
                f"the personal fields of {where} do not decrypt with the data key {key_id!r} of {SETTING}: "
                "that id holds another key, or the stored event was changed"
            ) from None


def is_sealed(text: str) -> bool:
    """Whether the text has the shape of `DataKeys.seal`'s (`KEY_ID:BASE64`), which no JSON
    or HTML text has: told from a value kept in plain text before it was sealed."""
    key_id, colon, rest = text.partition(":")
    return bool(colon) and _KEY_ID.fullmatch(key_id) is not None and _BASE64.fullmatch(rest) is not None


def sealing_context(originator_id: Any, originator_version: int, topic: str) -> bytes:
    """The authenticated data of an event's sealed fields: its identity in the store."""
    return f"{originator_id}/{originator_version}/{topic}".encode()


def event_name(originator_id: Any, originator_version: int, topic: str) -> str:
    return f"event {topic} {originator_id} version {originator_version}"


class PersonalDataMapper(Mapper[Any]):
    """The library's mapper, with the personal fields of each event sealed on the way to
    the store and opened on the way back (see the module's docstring)."""

    def __init__(self, *args: Any, keys: DataKeys, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        if topic == _SNAPSHOT_TOPIC:
            inner = state.get("state")
            fields = PERSONAL_FIELDS.get(state.get("topic") or "")
            if not fields or not isinstance(inner, dict):
                return super().to_stored_event(domain_event)
            state["state"] = self._sealed(dict(inner), fields, state, topic)
        else:
            fields = PERSONAL_FIELDS.get(topic)
            if not fields:
                return super().to_stored_event(domain_event)
            state = self._sealed(state, fields, state, topic)
        stand_in = object.__new__(type(domain_event))
        object.__setattr__(stand_in, "__dict__", state)
        return super().to_stored_event(stand_in)

    def _sealed(self, values: dict[str, Any], fields: tuple[str, ...], event: dict[str, Any],
                topic: str) -> dict[str, Any]:
        personal = {name: values[name] for name in fields if name in values}
        for name in personal:
            values[name] = None
        plain = self.transcoder.encode(personal)
        values[FIELD] = self.keys.seal(plain, sealing_context(
            event["originator_id"], event["originator_version"], topic))
        return values

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        event = super().to_domain_event(stored_event)
        state = event.__dict__
        if stored_event.topic == _SNAPSHOT_TOPIC and isinstance(state.get("state"), dict):
            state = state["state"]
        sealed = state.pop(FIELD, None)
        if sealed is not None:
            state.update(self.open_fields(sealed, stored_event.originator_id, stored_event.originator_version,
                                          stored_event.topic, self.transcoder.decode))
        return event

    def open_fields(self, sealed: Any, originator_id: Any, originator_version: int, topic: str,
                    parse: Any) -> dict[str, Any]:
        """The personal fields sealed in an event's `_personal_` value, parsed by `parse`
        (the transcoder's `decode`, or a faster equivalent)."""
        where = event_name(originator_id, originator_version, topic)
        if type(sealed) is not str:
            raise PersonalDataUnreadable(f"the personal fields of {where} are not a sealed value")
        values = parse(self.keys.open(sealed, sealing_context(originator_id, originator_version, topic), where))
        if type(values) is not dict:
            raise PersonalDataUnreadable(f"the personal fields of {where} are not a JSON object")
        return values
