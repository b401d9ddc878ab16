"""A big members file imported by several processes at once, each deciding and recording
a part of it: the import's judging is Python code, which one process runs on one core.

The rows are split by organization (`split`): every row of a branch goes to the same part,
so no two parts touch the same aggregate (a branch's roster is its organization's
aggregate; each member and each resident ID claim is one row's alone, the duplicates within
the file having been refused before the split). The organizations above the branches are
only read. Each worker process opens the ledger with the importing process's settings and
decides its part as a single-process import decides a whole file
(`api.importing.job._Import.decide`; the parts' task and the worker's body are in
api/importing/importer.py). The all-or-nothing rule holds across the parts:

1. every worker decides its part and answers with its problems (`gather("checked")`);
2. the importing process adds the file's own (its cells and duplicates) and tells every
   worker whether to record (`tell`): only if no part and no cell has a problem;
3. each worker records its part's chunks, as a single process records them.

A worker that fails stops the import: the others are stopped too (a save is one
transaction, so a stopped process leaves whole saves only) and the error is raised in the
importing process. The workers' progress is summed, by phase, for the caller's bar.

`worker_count` decides how many: for a members file of PARALLEL_FROM_ROWS rows or more, one
process for each core, at most MAX_WORKERS (on SQLite too: the saves take turns at the file's
write lock, and the judging and the encoding, most of the work, still go side by side;
docs/BENCHMARKS.md, "Import"); `ledger import members --workers N` chooses.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from api.importing.columns import Progress, Row
from domain.errors import ValidationError

PARALLEL_FROM_ROWS = 20_000  # smaller files: starting the processes costs more than they save
MAX_WORKERS = 4
POLL_SECONDS = 1.0  # how often the importing process looks whether a silent worker still runs
STOP_SECONDS = 10.0  # how long a worker told to stop may take before it is killed


def worker_count(env: dict[str, str], kind: str, rows: int, asked: int | None) -> int:
    """How many worker processes import a file of `rows` rows: `asked` if given (1: none,
    the importing process alone), else, for a members file of PARALLEL_FROM_ROWS rows or
    more, one per core (at most MAX_WORKERS); else 1. A store in memory is one process's."""
    if kind != "members":
        return 1
    in_memory = env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" and any(
        word in env.get("SQLITE_DBNAME", "") for word in (":memory:", "mode=memory"))
    if asked is not None:
        if asked < 1:
            raise ValidationError("workers must be 1 or more")
        if asked > 1 and in_memory:
            raise ValidationError("a store in memory is this process's alone: workers must be 1")
        return min(asked, max(1, rows))
    if in_memory or rows < PARALLEL_FROM_ROWS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def split(rows: Sequence[Row], count: int) -> list[list[Row]]:
    """The rows in at most `count` parts of about the same size, each organization's rows
    (by `organization_code`, in code order) all in one part; rows without a code go with
    the first part. A part is never empty."""
    by_code: dict[str, list[Row]] = {}
    for row in rows:
        code = row.values.get("organization_code")
        by_code.setdefault(code if isinstance(code, str) else "", []).append(row)
    parts: list[list[Row]] = [[]]
    target = len(rows) / max(1, count)
    for code in sorted(by_code):
        if parts[-1] and len(parts) < count and len(parts[-1]) + len(by_code[code]) / 2 > target:
            parts.append([])
        parts[-1].extend(by_code[code])
    return [part for part in parts if part]


class Channel:
    """A worker's end of its pipe: progress and answers up, the go-ahead down."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def progress(self, phase: str, done: int, total: int) -> None:
        self.connection.send(("progress", phase, done, total))

    def answer(self, kind: str, *values: Any) -> None:
        self.connection.send((kind, *values))

    def told(self) -> bool:
        """Whether the importing process says go on (False also if it is gone)."""
        try:
            return bool(self.connection.recv())
        except EOFError:
            return False


def _run(target: Callable[[Channel, Any], None], connection: Connection) -> None:
    """A worker process's body: its task read from the pipe, then `target(channel, task)`,
    its failure sent up as an error."""
    channel = Channel(connection)
    try:
        target(channel, connection.recv())
    except BaseException as error:  # whatever stops the worker is told, then it ends
        try:
            channel.answer("error", error)
        except Exception:  # not picklable: its type and text instead
            channel.answer("error", RuntimeError(f"{type(error).__name__}: {error}"))
        raise SystemExit(1) from None
    finally:
        connection.close()


class WorkerFailed(RuntimeError):
    """A worker process stopped without answering (killed, or out of memory)."""


class Workers:
    """One process per task, each running `target(channel, task)` (a function of a module,
    so that a new interpreter can import it), with the caller's progress summed by phase."""

    def __init__(self, target: Callable[[Channel, Any], None], tasks: Sequence[Any],
                 progress: Callable[[str, int, int], None] | Progress | None) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of this process's threads and pools
        self.progress = progress
        self.connections: list[Connection] = []
        self.processes: list[Any] = []
        self.seen: dict[str, dict[int, tuple[int, int]]] = {}
        try:
            for _ in tasks:
                mine, theirs = context.Pipe()
                self.connections.append(mine)
                process = context.Process(target=_run, args=(target, theirs), daemon=True,
                                          name="ledger-import-part")
                self.processes.append(process)
                process.start()
                theirs.close()
            # The tasks go through the pipes, not as the processes' arguments: should a process
            # die while starting, a send fails at once, where a big argument would block its start.
            for connection, task in zip(self.connections, tasks, strict=True):
                connection.send(task)
        except OSError:
            self.close(stop=True)
            raise WorkerFailed("an import worker stopped while starting") from None
        except BaseException:
            self.close(stop=True)
            raise

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(stop=exc[0] is not None)

    def gather(self, kind: str) -> list[tuple[Any, ...]]:
        """Each worker's next answer of this kind (its values), in the tasks' order, passing
        their progress on meanwhile. A worker's error is raised here."""
        answers: dict[int, tuple[Any, ...]] = {}
        waiting = dict(enumerate(self.connections))
        while waiting:
            ready = wait(list(waiting.values()), timeout=POLL_SECONDS)
            for number, connection in list(waiting.items()):
                if connection not in ready:
                    if not self.processes[number].is_alive() and not connection.poll():
                        raise WorkerFailed(f"import worker {number + 1} stopped without an answer "
                                           f"(exit code {self.processes[number].exitcode})")
                    continue
                try:
                    message = connection.recv()
                except (EOFError, OSError):  # its end closed, or reset as it died
                    raise WorkerFailed(f"import worker {number + 1} stopped without an answer "
                                       f"(exit code {self.processes[number].exitcode})") from None
                if message[0] == "progress":
                    self.passed_on(number, *message[1:])
                elif message[0] == "error":
                    raise message[1]
                elif message[0] == kind:
                    answers[number] = message[1:]
                    del waiting[number]
                else:
                    raise WorkerFailed(f"import worker {number + 1} answered {message[0]!r}, not {kind!r}")
        return [answers[number] for number in range(len(self.connections))]

    def passed_on(self, number: int, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        seen = self.seen.setdefault(phase, {})
        seen[number] = (done, total)
        self.progress(phase, sum(d for d, _ in seen.values()), sum(t for _, t in seen.values()))

    def tell(self, go: bool) -> None:
        for number, connection in enumerate(self.connections):
            try:
                connection.send(go)
            except OSError:
                raise WorkerFailed(f"import worker {number + 1} stopped before it was told to record") from None

    def close(self, stop: bool) -> None:
        """Wait for the workers to end (told to stop, or done); kill those that don't."""
        if stop:
            for process in self.processes:
                if process.pid is not None and process.is_alive():
                    process.terminate()
        for process in self.processes:
            if process.pid is None:  # never started
                continue
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        for connection in self.connections:
            connection.close()
