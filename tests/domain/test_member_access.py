"""A member's own token (domain/member_access.py): at most one works, the last issued, until
it is revoked; a presented token names its member or nothing."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from domain.base import Context
from domain.identifiers import make_registration_no
from domain.member_access import MemberAccess, new_member_token, token_registration_no

CTX = Context(on=date(2026, 11, 20))
NUMBER = make_registration_no("320102", date(2015, 7, 1), 1)


@given(st.lists(st.sampled_from(["issue", "revoke"]), min_size=1, max_size=12))
def test_only_the_last_issued_token_works_until_it_is_revoked(steps: list[str]) -> None:
    first = new_member_token(NUMBER)
    access, tokens, working = MemberAccess.open(CTX, NUMBER, first), [first], first
    for step in steps:
        if step == "issue":
            working = new_member_token(NUMBER)
            tokens.append(working)
            access.issue(CTX, working)
        elif access.digest is not None:
            access.revoke(CTX)
            working = None
        assert [t for t in tokens if access.accepts(t)] == ([working] if working else [])


@given(st.integers(min_value=1, max_value=999), st.dates(date(1921, 7, 1), date(2026, 11, 20)))
def test_a_token_names_its_member(sequence: int, joined: date) -> None:
    number = make_registration_no("320102", joined, sequence)
    assert token_registration_no(new_member_token(number)) == number


@given(st.text(max_size=120))
def test_anything_else_names_no_member(text: str) -> None:
    found = token_registration_no(text)
    assert found is None or text.startswith(f"lmt_{found}.")


def test_a_token_with_a_trailing_newline_or_another_number_shape_names_no_member() -> None:
    token = new_member_token(NUMBER)
    for bad in (token + "\n", token.replace("lmt_", "ltk_"), token.replace(NUMBER, NUMBER[:-1]), token[:-1],
                token.replace(NUMBER, "３" + NUMBER[1:])):
        assert token_registration_no(bad) is None, bad
