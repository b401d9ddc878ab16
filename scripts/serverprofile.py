"""Where a server's CPU goes: py-spy samples of a running server, sorted into the steps of the
ledger's write path.

`recording(py_spy, pid, path)` samples the process 100 times a second while its block runs,
into py-spy's raw format (one line a distinct stack, with its count): the stack of the thread
holding the interpreter's lock (`--gil`), the process paused for each sample. A served
process runs Python in one thread at a time, so that is where its interpreter's time goes.
Sampled otherwise (every thread py-spy thinks busy, without pausing), a third of the stacks
came back cut short, without the thread they ran in, and a fifth were threads waiting on a
lock (`Condition.wait`): the shares were skewed towards "HTTP and the framework, other".
Pausing costs the sampled server some of its rate (5-10 % measured): a profiled run's rates
are a little low. `breakdown(paths)` sorts the samples: each into the first step of `STEPS`
one of its frames belongs to, and into the thread it ran in (`THREADS`), and also, across
steps, into each of `PARTS` it passes through (an inclusive share: a sample may count in
several). py-spy is a developer's tool, not a dependency of the project: `pip install
py-spy`, then pass its path.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

# (label, the functions that make a sample part of it: a frame's "Class.function" or a name
# ending with "." and one of them); a sample goes to the first step, in this order, it is part of
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the bearer token's operator (its cache refresh included)",
     ("LedgerReads.operator_for_token", "LedgerReads.member_for_token")),
    ("judging the group's commands", ("GroupWriter._judge",)),
    ("saving the group (events, inline views, commit)", ("LedgerStore._save",)),
    ("the cache following the log before a group", ("AggregateCache.refresh",)),
    ("the answer's transfer", ("transfers.public", "public")),
    ("the writer thread, other", ("GroupWriter._run",)),
)
# (label, the function a thread of it runs from): the sample's thread; the first that matches
THREADS: tuple[tuple[str, str], ...] = (
    ("the writer thread (judging and saving groups)", "GroupWriter._run"),
    ("the routes' threads (anyio's pool: dependencies and routes)", "WorkerThread.run"),
    ("the sealer thread", "Sealer._run"),
    ("the event loop (uvicorn, FastAPI's own steps, answers)", "Runner.run"),
)
OTHER_THREADS = "other threads (the views' listener, the pool's)"
# (label, functions): inclusive shares across the steps
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reading the log (`AggregateCache.refresh`)", ("AggregateCache.refresh",)),
    ("loading aggregates the cache missed (`load_one`, or the repository)", ("load_one", "Repository.get")),
    ("working copies (`deepcopy`)", ("__deepcopy__", "deepcopy", "working_copy")),
    ("events to rows (the mapper's encoding and sealing)", ("to_stored_event",)),
    ("rows to events (the mapper's decoding)", ("to_domain_event",)),
    ("the pool lending a connection (its check, pre-ping, included)", ("ConnectionPool.getconn",)),
    ("waiting for the saved rows to become visible", ("_wait_until_visible",)),
    ("the inline views' rows (transaction hook)", ("in_transaction",)),
    ("pydantic (validation, serialization)", ("validate_python", "serialize_response", "to_python")),
)


@contextlib.contextmanager
def recording(py_spy: str | None, pid: int, path: Path) -> Iterator[None]:
    """Sample process `pid` into `path` while the block runs (nothing without `py_spy`)."""
    if not py_spy:
        yield
        return
    process = subprocess.Popen([py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
                                "--gil", "--output", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _functions(stack: str) -> list[str]:
    """The functions of a raw stack, outermost first ("Class.function (file:line)" frames)."""
    return [frame.split(" (", 1)[0].strip() for frame in stack.split(";")]


def _part_of(names: list[str], wanted: tuple[str, ...]) -> bool:
    return any(name in wanted or name.rpartition(".")[2] in wanted for name in names)


def breakdown(paths: Iterable[Path]) -> dict[str, int]:
    """Samples by step (the `STEPS` labels, then "HTTP and the framework, other"), by thread
    (`thread_labels()`), by part (the `PARTS` labels) and in all ("total")."""
    counts: Counter[str] = Counter()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, number = line.rpartition(" ")
            if not stack or not number.isascii() or not number.isdecimal():
                continue
            samples = int(number)
            names = _functions(stack)
            counts["total"] += samples
            step = next((label for label, wanted in STEPS if _part_of(names, wanted)), None)
            counts[step or "HTTP and the framework, other"] += samples
            thread = next((label for label, start in THREADS if start in names), OTHER_THREADS)
            counts[f"thread: {thread}"] += samples
            for label, wanted in PARTS:
                if _part_of(names, wanted):
                    counts[label] += samples
    return dict(counts)


def labels() -> list[str]:
    return [label for label, _ in STEPS] + ["HTTP and the framework, other"]


def part_labels() -> list[str]:
    return [label for label, _ in PARTS]


def thread_labels() -> list[str]:
    return [f"thread: {label}" for label, _ in THREADS] + [f"thread: {OTHER_THREADS}"]
