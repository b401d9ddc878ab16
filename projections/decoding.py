"""Decoding stored events for the projection engine: the same domain event objects as the
library's mapper (`Mapper.to_domain_event`) builds, in less time.

The mapper parses each event's state with the standard library's JSON decoder and an
object hook in Python for every JSON object. Here the state is parsed by `orjson`, and
the transcoded values (`{"_type_": name, "_data_": ...}`) are then restored bottom-up with
the mapper's own transcodings, exactly as `JSONTranscoder._decode_obj` does; the event
class is resolved once per topic, and `originator_id` / `originator_version` are set as the
mapper sets them. The personal fields sealed by the ledger's mapper (domain/personal.py)
are opened here too, with the mapper's keys, and parsed as the rest of the state is.
Whenever the result could differ, the event goes through the mapper
instead: a mapper with a cipher or a compressor, another mapper or transcoder class, an
event class with `class_version` above 1 (upcasting), a `class_version` in the state, any
number `orjson` reads as a float (a float, or an integer beyond 64 bits, which the standard
library reads exactly), and any error (which the mapper then raises as it would).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    Transcoding,
    UUIDAsHex,
    find_id_convertor,
    pass_through_convertor,
)
from eventsourcing.utils import resolve_topic

from domain.personal import FIELD, PersonalDataMapper, PersonalDataUnreadable
from domain.transcodings import DateAsISO
from projections.reading import as_notification

# Transcodings whose `decode(text)` is exactly this function of the text: called directly.
_DIRECT: dict[type, Callable[[str], Any]] = {
    DatetimeAsISO: datetime.fromisoformat, DecimalAsStr: Decimal, UUIDAsHex: UUID, DateAsISO: date.fromisoformat,
}
_UNKNOWN: Any = object()


class _Unsure(Exception):
    """The fast path can't be sure to build what the mapper would: use the mapper."""


def fast_path_possible(mapper: Mapper[Any]) -> bool:
    """True when the mapper does nothing but JSON decoding with the library's transcoder."""
    transcoder = mapper.transcoder
    decoder = getattr(transcoder, "decoder", None)
    return (
        mapper.cipher is None
        and mapper.compressor is None
        and type(mapper).to_domain_event in (Mapper.to_domain_event, PersonalDataMapper.to_domain_event)
        and isinstance(transcoder, JSONTranscoder)
        and type(transcoder).decode is JSONTranscoder.decode
        and type(transcoder)._decode_obj is JSONTranscoder._decode_obj
        and type(decoder) is json.JSONDecoder
        and decoder.object_hook == transcoder._decode_obj
        and decoder.object_pairs_hook is None
        and decoder.parse_int is int
        and decoder.parse_float is float
    )


class EventDecoder:
    """`decode(notification)` returns what `mapper.to_domain_event(notification)` returns
    (`decode_row()` for a notification as a tuple)."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.fast = fast_path_possible(mapper)
        self._names: dict[str, Transcoding] = getattr(mapper.transcoder, "names", {})
        self._text_decoders: dict[Transcoding, Callable[[str], Any]] = {}
        # topic -> (class, the originator id type seen, its convertor); None: the mapper decodes it.
        self._classes: dict[str, tuple[type, type, Callable[[Any], Any]] | None] = {}
        self.fallbacks = 0  # events the mapper decoded (for tests and benchmarks)
        self._personal = mapper if isinstance(mapper, PersonalDataMapper) else None

    def decode(self, notification: Notification) -> Any:
        if self.fast:
            try:
                return self._decode(notification.topic, notification.originator_id, notification.state,
                                    notification.originator_version)
            except PersonalDataUnreadable:
                raise
            except Exception:  # _Unsure, or any error: the mapper decides (and raises its own error)
                pass
        self.fallbacks += 1
        return self.mapper.to_domain_event(notification)

    def decode_row(self, row: tuple[int, Any, int, str, bytes]) -> Any:
        """The same, for a notification as a tuple (id, originator_id, originator_version,
        topic, state)."""
        if self.fast:
            try:
                return self._decode(row[3], row[1], row[4], row[2])
            except PersonalDataUnreadable:
                raise
            except Exception:
                pass
        self.fallbacks += 1
        return self.mapper.to_domain_event(as_notification(row))

    def _decode(self, topic: str, originator_id: Any, stored: bytes, originator_version: int) -> Any:
        found = self._classes.get(topic, _UNKNOWN)
        if found is _UNKNOWN or (found is not None and type(originator_id) is not found[1]):
            found = self._resolve(topic, type(originator_id))
        if found is None:
            raise _Unsure
        cls, _, convert = found
        state = orjson.loads(stored)
        if type(state) is not dict:
            raise _Unsure
        sealed = state.pop(FIELD, None)
        if sealed is not None:  # the personal fields, back in their places (parsed, not yet restored)
            if self._personal is None:
                raise _Unsure
            state.update(self._personal.open_fields(sealed, originator_id, originator_version, topic, orjson.loads))
        names, text_decoders = self._names, self._text_decoders
        for key, value in state.items():
            kind = type(value)
            if kind is dict:
                if len(value) == 2:
                    name, data = value.get("_type_"), value.get("_data_")
                    if type(name) is str and type(data) is str:  # a transcoded value, as most are
                        transcoding = names[name]
                        text_decode = text_decoders.get(transcoding) or self._text_decoder(transcoding)
                        state[key] = text_decode(data)
                        continue
                state[key] = self._restore(value)
            elif kind is list:
                state[key] = self._restore(value)
            elif kind is float:
                raise _Unsure
        if "class_version" in state or (len(state) == 2 and "_type_" in state and "_data_" in state):
            raise _Unsure
        state["originator_id"] = originator_id if convert is pass_through_convertor else convert(originator_id)
        state["originator_version"] = originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _resolve(self, topic: str, id_type: type) -> tuple[type, type, Callable[[Any], Any]] | None:
        cls = resolve_topic(topic)
        found: tuple[type, type, Callable[[Any], Any]] | None = None
        if isinstance(cls, type) and getattr(cls, "class_version", 1) == 1:
            found = (cls, id_type, find_id_convertor(cls, id_type))
        self._classes[topic] = found
        return found

    def _text_decoder(self, transcoding: Transcoding) -> Callable[[str], Any]:
        found = _DIRECT.get(type(transcoding), transcoding.decode)
        self._text_decoders[transcoding] = found
        return found

    def _restore(self, value: Any) -> Any:
        """A parsed JSON object or array with its transcoded objects restored, innermost
        first, as the standard library's decoder calls the transcoder's object hook."""
        restore = self._restore
        if type(value) is dict:
            for key, item in value.items():
                kind = type(item)
                if kind is dict or kind is list:
                    value[key] = restore(item)
                elif kind is float:
                    raise _Unsure
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._names[value["_type_"]].decode(value["_data_"])
            return value
        items = []
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                item = restore(item)
            elif kind is float:
                raise _Unsure
            items.append(item)
        return items
