"""Builders shared by the tests: valid numbers, people, and a small organization tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from domain.errors import LedgerError
from domain.identifiers import check_character
from domain.ledger import Ledger

SETUP_DAY = date(2020, 1, 1)


def id_card(n: int, birth: date = date(1980, 1, 1), region: str = "320102") -> str:
    """The n-th valid resident ID number (distinct for distinct n below 1000 per birth date)."""
    first17 = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + check_character(first17)


def person(n: int, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `admit_member` / `import_member`, unique by n."""
    birth = date(1960 + n // 1000 % 40, 1 + n // 100 % 12, 1 + n % 28)
    fields: dict[str, Any] = {
        "name": f"党员{n}",
        "id_card_no": id_card(n, birth),
        "gender": "female" if n % 2 else "male",
        "birth_date": birth,
        "joined_on": date(2015, 7, 1),
        "category": "worker",
        "household_region": "320102",
    }
    fields.update(overrides)
    return fields


# code: (name, kind, parent, region)
TREE: dict[str, tuple[str, str, str | None, str]] = {
    "JS": ("江苏省委组织部", "department", None, "320000"),
    "NJ": ("南京市委组织部", "department", "JS", "320100"),
    "XW": ("玄武区委组织部", "department", "NJ", "320102"),
    "QH": ("秦淮区委组织部", "department", "NJ", "320104"),
    "XW-C1": ("玄武街道党工委", "committee", "XW", "320102"),
    "XW-C1-G1": ("第一党总支", "general_branch", "XW-C1", "320102"),
    "XW-C1-B1": ("第一党支部", "branch", "XW-C1-G1", "320102"),
    "XW-C1-B2": ("第二党支部", "branch", "XW-C1-G1", "320102"),
    "XW-C1-B3": ("第三党支部", "branch", "XW-C1", "320102"),
    "XW-C2": ("玄武科技园党委", "committee", "XW", "320102"),
    "XW-C2-B1": ("科技园第一支部", "branch", "XW-C2", "320102"),
    "XW-S": ("玄武区党员服务中心", "service_center", "XW", "320102"),
    "QH-C1": ("秦淮街道党工委", "committee", "QH", "320104"),
    "QH-C1-B1": ("秦淮第一支部", "branch", "QH-C1", "320104"),
    "ZJ": ("浙江省委组织部", "department", None, "330000"),
    "HZ": ("杭州市委组织部", "department", "ZJ", "330100"),
    "SC": ("上城区委组织部", "department", "HZ", "330102"),
    "SC-C1": ("上城街道党工委", "committee", "SC", "330102"),
    "SC-C1-B1": ("上城第一支部", "branch", "SC-C1", "330102"),
}


def build_tree(ledger: Ledger, on: date = SETUP_DAY) -> None:
    """Register TREE: two provinces, counties, committees, branches, a service center."""
    for code, (name, kind, parent, region) in TREE.items():
        ledger.register_organization(code, name, kind, parent, region, on=on)


def admit(
    ledger: Ledger, n: int, org: str = "XW-C1-B1", on: date = date(2020, 6, 1), **overrides: Any
) -> str:
    """Import a full member (joined 2015) into `org` on 2020-06-01; returns the registration number."""
    fields = person(n, **overrides)
    return ledger.import_member(
        org, registration_no=None, status=overrides.pop("status", "full"), on=on,
        **{k: v for k, v in fields.items() if k != "status"},
    ).registration_no  # type: ignore[return-value]

@contextmanager
def refused(ledger: Ledger, error: type[LedgerError], code: str, case: object = None) -> Iterator[None]:
    """The block raises `error` carrying `code`, and the store records nothing.
    `case` names the case in a failure's report when a test loops over cases."""
    before = ledger.max_position()
    try:
        with pytest.raises(error) as caught:
            yield
        assert caught.value.code == code
        assert ledger.max_position() == before, "a refused command recorded events"
    except BaseException as failure:
        if case is not None:
            failure.add_note(f"case: {case!r}")
        raise
