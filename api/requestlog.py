"""The server's request log (uvicorn's access log) without personal data: a request line's
query keeps its parameters' names, and the values of those that can carry a person's
name or resident ID number are blanked (`-`): `id_card_no` (the locator) and `q` (the
rosters' and the transfers' searches, by name or registration number).

A parameter's name is read as the server reads it, percent-decoded (`id%5Fcard%5Fno` is
`id_card_no`), so a name spelled otherwise is blanked too. Installed on the
`uvicorn.access` logger when the app is imported (api/app.py), in every serve process."""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

PERSONAL_PARAMETERS = frozenset({"id_card_no", "q"})


def redact_query(target: str) -> str:
    """`target` (a path with its query) with the values of PERSONAL_PARAMETERS blanked."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        if equals and unquote_plus(name).strip() in PERSONAL_PARAMETERS:
            part = f"{name}=-"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}"


class RedactPersonalQuery(logging.Filter):
    """Blanks PERSONAL_PARAMETERS in the request lines uvicorn logs (its arguments: the
    client, the method, the path with its query, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactPersonalQuery) for f in access.filters):
        access.addFilter(RedactPersonalQuery())
