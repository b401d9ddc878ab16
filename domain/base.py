"""What every ledger event carries, and the base of every aggregate.

Every event says who acted (operator and organization), the request that caused it,
when it was recorded (the event's timestamp, UTC) and the date it takes effect (`on`).
An aggregate refuses an event effective before its own last event. Every string an event
records is text (no lone surrogate, no control character but tab, LF and CR) in Unicode
NFC, whoever calls the aggregate (domain/text.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, BaseAggregate, CanInitAggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.errors import BeforeLastEvent
from domain.text import clean_fields


@dataclass(frozen=True)
class Actor:
    """Who acts. `organization_code` None means the system itself (set-up, imports)."""

    id: str = "system"
    organization_code: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class Context:
    """One command's who, when and why: shared by every event the command records."""

    on: date
    actor: Actor = SYSTEM
    request_id: str = field(default_factory=lambda: uuid4().hex)

    def meta(self) -> dict[str, Any]:
        return {
            "on": self.on,
            "actor": self.actor.id,
            "actor_organization": self.actor.organization_code,
            "request_id": self.request_id,
        }


# Values a copy of an aggregate may share with the original: nothing can change them.
_IMMUTABLE = (str, int, float, bool, type(None), date, datetime, Decimal, UUID)


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    """A copy of one attribute's value: shared when immutable, a flat container of immutable
    values copied one level (the aggregates' indexes), anything else copied deeply. Events
    are immutable too (frozen), so a list of pending events is copied, not its events."""
    if isinstance(value, _IMMUTABLE):
        return value
    if type(value) in (dict, list, set, tuple):
        items = value.items() if isinstance(value, dict) else ((v, None) for v in value)
        if all(isinstance(k, _IMMUTABLE) and isinstance(v, _IMMUTABLE) for k, v in items):
            return value if isinstance(value, tuple) else value.copy()
    if isinstance(value, list) and all(isinstance(v, LedgerAggregate.Event) for v in value):
        return list(value)
    return copy.deepcopy(value, memo)


class LedgerAggregate(Aggregate):
    """An aggregate whose events carry a Context and keep effective-date order."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A working copy (commands change copies, never the cached aggregate): as
        `copy.deepcopy` makes it, in a fraction of its time, since an aggregate's state is
        immutable values and flat indexes of them."""
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update({name: _copied(value, memo) for name, value in self.__dict__.items()})
        return copied

    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        last_on: date

    class Event(Aggregate.Event):
        on: date
        actor: str
        actor_organization: str | None
        request_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.last_on = max(getattr(aggregate, "last_on", self.on), self.on)
            self.change(aggregate)

        def change(self, aggregate: Any) -> None:
            """The event's effect on the aggregate's state (one per event class)."""

    if TYPE_CHECKING:  # at run time the library's metaclass makes Created a subclass of Event
        class Created(Event, Aggregate.Created):  # type: ignore[misc]
            pass

    class Bookkeeping(Event):
        """An index entry kept for a rule's sake; it does not move `last_on`."""

        def apply(self, aggregate: Any) -> None:
            self.change(aggregate)

    def check_effective_order(self, ctx: Context) -> None:
        """An event can't be effective before the last event of the same aggregate."""
        if ctx.on < self.last_on:
            raise BeforeLastEvent(
                f"effective date {ctx.on} is before this record's last event ({self.last_on})"
            )

    def record(self, event_class: type[Event], ctx: Context, **fields: Any) -> None:
        if not issubclass(event_class, LedgerAggregate.Bookkeeping):
            self.check_effective_order(ctx)
        self.trigger_event(event_class, **clean_fields(ctx.meta()), **clean_fields(fields))

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        """The library's `_create` (the created event, the aggregate made by applying it,
        the event pending), its fields cleaned first. For an aggregate with an id given and
        nothing of the library's creation overridden (no `__init__`, `__new__`, topic of its
        own, nor an event's `mutate`), it is done here directly, as the library does it
        without its generic steps (matching the event's fields against `__init__`'s
        parameters, twice, and resolving the class from its topic): a sixth of the time of
        judging a member's import (tests/domain/test_working_copies.py compares the two)."""
        fields = clean_fields(kwargs)
        if not isinstance(id, UUID | str) or not _plain_creation(cls, event_class):
            return super()._create(event_class, id=id, **fields)
        fields.update(originator_topic=get_topic(cls), originator_id=id, originator_version=cls.INITIAL_VERSION)
        if fields.get("timestamp") is None:
            fields["timestamp"] = event_class.create_timestamp()
        try:
            created = event_class(**fields)
        except TypeError as error:
            raise TypeError(f"Unable to construct '{event_class.__qualname__}' event: {error}") from error
        aggregate = object.__new__(cls)
        aggregate.__base_init__(id, cls.INITIAL_VERSION, created.timestamp)
        created.apply(aggregate)
        aggregate._pending_events.append(created)
        return aggregate


_PLAIN: dict[tuple[type, type], bool] = {}


def _plain_creation(cls: type, event_class: type) -> bool:
    """Whether eventsourcing's `_create` of `cls` with `event_class` comes down to the
    steps of `LedgerAggregate._create`'s own path."""
    found = _PLAIN.get((cls, event_class))
    if found is None:
        found = _PLAIN[(cls, event_class)] = (
            not getattr(cls, "TOPIC", None) and not getattr(event_class, "TOPIC", None)
            and not any("__init__" in vars(k) for k in cls.__mro__[:-1]) and cls.__new__ is object.__new__
            and getattr(cls, "__base_init__", None) is BaseAggregate.__base_init__
            and getattr(event_class, "mutate", None) is CanInitAggregate.mutate
            and resolve_topic(get_topic(cls)) is cls
        )
    return found
