"""How dates and money are written in stored events (JSON)."""

from __future__ import annotations

from datetime import date

from eventsourcing.persistence import DecimalAsStr, Transcoding


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


TRANSCODINGS: tuple[Transcoding, ...] = (DateAsISO(), DecimalAsStr())
