"""What every ledger event carries, and the base of every aggregate.

Every event says who acted (operator and organization), the request that caused it,
when it was recorded (the event's timestamp, UTC) and the date it takes effect (`on`).
An aggregate refuses an event effective before its own last event. Every string an event
records is text (no lone surrogate, no control character but tab, LF and CR) in Unicode
NFC, whoever calls the aggregate (domain/text.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from eventsourcing.domain import Aggregate

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


class LedgerAggregate(Aggregate):
    """An aggregate whose events carry a Context and keep effective-date order."""

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
        return super()._create(event_class, id=id, **clean_fields(kwargs))
