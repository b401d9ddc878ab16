"""The chain check on any log: whatever single change is made to a sealed log, the check
stops at the change's first position and names its kind; an untouched log, or one that
only grew, passes; checkpoints are refused when altered or signed with another key."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from domain.sealing import GENESIS, ChainCheck, Event, Seal, chain, digest, sign, signed_by

KEY = b"k" * 32


def sealed(log: list[tuple[int, bytes]]) -> list[Seal]:
    seals, previous = [], GENESIS
    for position, event_digest in log:
        previous = chain(previous, position, event_digest)
        seals.append((position, event_digest, previous))
    return seals


logs = st.lists(st.tuples(st.integers(1, 3), st.binary(min_size=1, max_size=20)), min_size=3, max_size=30).map(
    lambda steps: [(sum(g for g, _ in steps[:i + 1]),
                    digest(UUID(int=i), i, "topic", state)) for i, (_, state) in enumerate(steps)])


@given(logs, st.data())
def test_a_single_change_is_located_and_named(log: list[Event], data: st.DataObject) -> None:
    seals = sealed(log)
    index = data.draw(st.integers(0, len(log) - 1))
    position = log[index][0]
    kind = data.draw(st.sampled_from(["changed", "missing", "inserted", "reordered", "grew"]))
    events = list(log)
    expected: tuple[int | None, str | None] = (position, kind)
    if kind == "changed":
        events[index] = (position, digest(UUID(int=99), 1, "forged", b"x"))
    elif kind == "missing":
        del events[index]
    elif kind == "inserted":
        gap = [p for p in range(1, log[-1][0]) if p not in {q for q, _ in log}]
        if gap:
            at = data.draw(st.sampled_from(gap))
            events = sorted([*events, (at, digest(UUID(int=98), 1, "forged", b"y"))])
            expected = (at, "inserted")
        else:  # no gap: the events after it move down one place to make room
            shifted = [(p + 1 if p >= position else p, d) for p, d in events]
            events = sorted([*shifted, (position, digest(UUID(int=98), 1, "forged", b"y"))])
    elif kind == "reordered":
        other = data.draw(st.integers(0, len(log) - 1).filter(lambda i: i != index))
        first, second = sorted((index, other))
        events[first], events[second] = (log[first][0], log[second][1]), (log[second][0], log[first][1])
        expected = (log[first][0], "reordered")
    else:
        events.append((log[-1][0] + 1, digest(UUID(int=97), 1, "later", b"z")))
        expected = (None, None)
    verdict = ChainCheck().check(events, seals)
    assert (verdict.first_bad_position, verdict.reason) == expected


@given(logs, st.integers(0, 29))
def test_a_log_extends_its_checkpoints_and_a_rewritten_one_does_not(log: list[Event], at: int) -> None:
    at = min(at, len(log) - 1)
    seals = sealed(log)
    checkpoint = sign(seals[at][0], seals[at][2], KEY)
    assert ChainCheck(checkpoint).check(log, seals).ok
    rewritten = [*log[:at], (log[at][0], digest(UUID(int=1), 1, "forged", b"w")), *log[at + 1:]]
    verdict = ChainCheck(checkpoint).check(rewritten, sealed(rewritten))
    assert (verdict.first_bad_position, verdict.reason) == (log[at][0], "checkpoint")


def test_checkpoints_are_signed_with_the_key() -> None:
    checkpoint = sign(12, b"\x01" * 32, KEY)
    assert signed_by(checkpoint, KEY)
    assert not signed_by(checkpoint, b"j" * 32)
    assert not signed_by({**checkpoint, "position": 13}, KEY)
    assert not signed_by({**checkpoint, "root": "00" * 32}, KEY)
    assert not signed_by({**checkpoint, "signature": checkpoint["signature"].replace("hmac", "sha")}, KEY)
    assert not signed_by({"position": "12", "root": checkpoint["root"], "signature": checkpoint["signature"]}, KEY)
