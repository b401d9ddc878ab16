"""The sealed log: a chain of hashes over every stored event, in position order, and
checkpoints of it signed with a key kept outside the database.

The invariant: the seal at position p is `SHA-256(seal before p ‖ p ‖ digest(event at p))`,
where an event's digest covers all of its stored bytes (originator id, version, topic,
state: the first three as text, the id after its length, each ended by a line break)
and the position ties it to its place. Changing, removing, adding or moving any stored
event changes every seal from its position on; a checkpoint (the last position and its
seal, signed) kept by an auditor then proves whether the log still extends it, even
when the seals themselves were recomputed after a change.

This module is pure: the bytes in, the seals and the verdicts out. Where the seals are kept
and how the log is followed is projections/sealer.py's.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# The seal before the first event.
GENESIS = hashlib.sha256(b"transfer-ledger sealed log v1").digest()
SIGNATURE_SCHEME = "hmac-sha256"
CHECKPOINT_CONTEXT = b"transfer-ledger checkpoint v1\n"
# Why the chain breaks at its first bad position.
CHANGED, MISSING, INSERTED, REORDERED = "changed", "missing", "inserted", "reordered"
SEAL_CHANGED = "seal_changed"  # the event is as sealed, but its seal row was altered
CHECKPOINT = "checkpoint"  # the log no longer ends in the checkpoint's root at its position
SIGNATURE = "signature"  # the checkpoint's signature is not the key's


def digest(originator_id: Any, version: int, topic: str, state: bytes) -> bytes:
    """The digest of one stored event's bytes (its position is added by `chain`): the
    originator id as its text (SQLite stores the text itself, PostgreSQL a UUID, whose text
    is one spelling), the version, the topic and the state."""
    text = str(originator_id)
    head = f"{len(text)}:{text}\n{version}\n{topic}\n".encode("utf-8", "surrogatepass")
    return hashlib.sha256(head + bytes(state)).digest()


def chain(previous: bytes, position: int, event_digest: bytes) -> bytes:
    """The seal at `position`, after the seal `previous`."""
    return hashlib.sha256(previous + position.to_bytes(8, "big", signed=True) + event_digest).digest()


# --- checkpoints -----------------------------------------------------------------------


def _message(position: int, root: str) -> bytes:
    return CHECKPOINT_CONTEXT + f"{position}\n{root}".encode()


def sign(position: int, root: bytes, key: bytes) -> dict[str, Any]:
    """A checkpoint: `{position, root, signature}` (root and signature in hex; the
    signature names its scheme)."""
    root_hex = root.hex()
    mac = hmac.new(key, _message(position, root_hex), hashlib.sha256).hexdigest()
    return {"position": position, "root": root_hex, "signature": f"{SIGNATURE_SCHEME}:{mac}"}


def signed_by(checkpoint: dict[str, Any], key: bytes) -> bool:
    """Whether the checkpoint is well formed and signed with `key`."""
    position, root, signature = (checkpoint.get(k) for k in ("position", "root", "signature"))
    if not (isinstance(position, int) and not isinstance(position, bool) and position >= 0
            and isinstance(root, str) and isinstance(signature, str)):
        return False
    scheme, _, mac = signature.partition(":")
    expected = hmac.new(key, _message(position, root), hashlib.sha256).hexdigest()
    return scheme == SIGNATURE_SCHEME and hmac.compare_digest(mac.encode(), expected.encode())


# --- verification ----------------------------------------------------------------------

Event = tuple[int, bytes]  # (position, digest of its stored bytes)
Seal = tuple[int, bytes, bytes]  # (position, the event's digest as sealed, the seal)


@dataclass
class Verdict:
    """The chain recomputed from the stored bytes: `events` checked (those sealed),
    `unsealed` after the last seal, and the first break, if any."""

    events: int = 0
    unsealed: int = 0
    first_bad_position: int | None = None
    reason: str | None = None
    position: int = 0  # the last sealed position checked
    root: bytes = GENESIS  # the seal recomputed at `position`

    @property
    def ok(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "unsealed": self.unsealed,
                "first_bad_position": self.first_bad_position, "reason": self.reason}


class ChainCheck:
    """Feed it the stored events and the seals in position order (`check`); it recomputes
    the chain and stops at the first break, then says why from what follows it
    (`classify`). With a checkpoint, the recomputed seal at the checkpoint's position must be
    its root."""

    def __init__(self, checkpoint: dict[str, Any] | None = None) -> None:
        self.verdict = Verdict()
        self.checkpoint = checkpoint
        self._checkpoint_seen = False

    def check(self, events: Iterable[Event], seals: Iterable[Seal]) -> Verdict:
        verdict = self.verdict
        events_it, seals_it = iter(events), iter(seals)
        event, seal = next(events_it, None), next(seals_it, None)
        computed = GENESIS
        while seal is not None:
            if event is not None and event[0] < seal[0]:  # an event where no seal is: new here, or moved?
                moved = event[1] == seal[1] or self._scan_seals(seals_it, event[1])
                return self._break(event[0], REORDERED if moved else INSERTED)
            if event is None or event[0] > seal[0]:  # a seal whose event is not here: gone, or moved?
                moved = event is not None and (event[1] == seal[1] or self._scan_events(events_it, seal[1]))
                return self._break(seal[0], REORDERED if moved else MISSING)
            position, event_digest = event
            _, sealed_digest, sealed = seal
            if event_digest != sealed_digest:
                in_events = self._scan_events(events_it, sealed_digest)
                in_seals = self._scan_seals(seals_it, event_digest)
                reason = {(True, True): REORDERED, (True, False): INSERTED,
                          (False, True): MISSING}.get((in_events, in_seals), CHANGED)
                return self._break(position, reason)
            computed = chain(computed, position, event_digest)
            if computed != sealed:
                return self._break(position, SEAL_CHANGED)
            verdict.events += 1
            verdict.position, verdict.root = position, computed
            if self.checkpoint is not None and position == self.checkpoint["position"]:
                self._checkpoint_seen = True
                if computed.hex() != self.checkpoint["root"]:
                    return self._break(position, CHECKPOINT)
            event, seal = next(events_it, None), next(seals_it, None)
        while event is not None:
            verdict.unsealed += 1
            event = next(events_it, None)
        if self.checkpoint is not None and not self._checkpoint_seen and self.checkpoint["position"] > 0:
            # no sealed event at the checkpoint's position any more: the log was cut there
            return self._break(self.checkpoint["position"], MISSING)
        return verdict

    def _break(self, position: int, reason: str) -> Verdict:
        self.verdict.first_bad_position, self.verdict.reason = position, reason
        return self.verdict

    @staticmethod
    def _scan_events(events: Iterator[Event], wanted: bytes) -> bool:
        """Whether an event after the break has the digest sealed at the break (the
        sealed event is still in the log, later)."""
        return any(d == wanted for _, d in events)

    @staticmethod
    def _scan_seals(seals: Iterator[Seal], wanted: bytes) -> bool:
        """Whether a seal after the break was made for the event found at the break (it
        was sealed at another place)."""
        return any(d == wanted for _, d, _s in seals)
