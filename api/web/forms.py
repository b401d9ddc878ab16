"""Reading a page's form strictly: a form is refused, in words and before anything sees it,
when it can't be read as the pages' forms are written, instead of reaching a handler
mangled or ending in a traceback.

- A body over `MAX_FORM_BYTES` is refused 413 (the pages' largest form, a member's
  report of REPORT_MAX_CHARS characters, is a small part of it).
- A body Starlette can't parse (a broken multipart body, over `MAX_FIELDS` fields) or a
  multipart body cut short (no closing boundary) is refused 400 `validation_error`.
- A field whose bytes are not UTF-8 (the pages are UTF-8, and so are their forms) is
  refused 422 `validation_error` naming the field, where it would have been read with
  U+FFFD (or as Latin-1) in place of what was typed.

Refusals name the field, never its value.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from fastapi import Request
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import parse_options_header

from api.errors import ApiError
from domain.errors import ValidationError

MAX_FORM_BYTES = 1024 * 1024
MAX_FIELDS = 1000
URLENCODED, MULTIPART = "application/x-www-form-urlencoded", "multipart/form-data"
FORM_TYPES = (URLENCODED, MULTIPART)


def too_large() -> ApiError:
    return ApiError("validation_error", f"the form is larger than {MAX_FORM_BYTES // 1024} KB", 413)


async def read_form(request: Request) -> FormData:
    """The request's form (a urlencoded or multipart body), read once and kept for the
    page's handler; refused as the module says."""
    declared = request.headers.get("content-length") or ""
    if declared.isascii() and declared.isdecimal() and int(declared) > MAX_FORM_BYTES:
        raise too_large()
    body = await request.body()  # kept by the request: the form below (and the handler) read it
    if len(body) > MAX_FORM_BYTES:  # a body sent without its length
        raise too_large()
    try:
        form = await request.form(max_fields=MAX_FIELDS, max_files=MAX_FIELDS, max_part_size=MAX_FORM_BYTES)
    except HTTPException as error:  # Starlette's words: they never echo the body
        raise ApiError("validation_error", f"the form can't be read: {error.detail}", 400) from None
    except MultiPartException as error:
        raise ApiError("validation_error", f"the form can't be read: {error.message}", 400) from None
    kind, options = parse_options_header(request.headers.get("content-type"))
    if kind == MULTIPART.encode():
        boundary = options.get(b"boundary", b"")
        if b"--" + boundary + b"--" not in body:  # Starlette reads a body cut short as far as it goes
            raise ApiError("validation_error", "the form can't be read: the multipart body is cut short", 400)
        multipart_utf8(body, boundary)
    else:
        urlencoded_utf8(body)
    return form


def strict(raw: bytes, field: str | None) -> str:
    """`raw` as UTF-8; refused naming `field` (the field's name when None: a name that is
    not UTF-8 is itself refused)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{field} is not UTF-8 text" if field is not None
                              else "a form field's name is not UTF-8 text") from None


def urlencoded_utf8(body: bytes) -> None:
    for pair in body.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        field = strict(unquote_to_bytes(name.replace(b"+", b" ")), None)
        strict(unquote_to_bytes(value.replace(b"+", b" ")), field)


def multipart_utf8(body: bytes, boundary: bytes) -> None:
    """Each text part of a multipart body (Starlette has read its structure already; a
    file's part is not text, and no page takes a file)."""
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, value = part.partition(b"\r\n\r\n")
        if b"filename=" in head.lower():
            continue
        disposition = next((line.partition(b":")[2] for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-disposition:")), b"")
        field = strict(parse_options_header(disposition)[1].get(b"name", b""), None)
        strict(value.removesuffix(b"\r\n"), field)
