"""The import of one file (`_Import`): read and check every row, judge the new rows by the
Ledger's own commands, and record them only when no row has a problem, in one process
(`api/importing/importer.py` runs it, or splits a big members file among processes; the
package's docstring tells the whole story)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from api.importing.columns import COLUMNS, KINDS_OF_FILE, ImportFileError, Problem, Progress, Result, Row
from api.importing.lookups import first_stored_events, store_statistics
from api.importing.reading import PARSERS, Damaged, map_headings, read_table
from domain.base import SYSTEM
from domain.errors import (
    Conflict,
    DuplicateRegistration,
    LedgerError,
    NotFound,
    ValidationError,
)
from domain.identifiers import id_card_digest, id_claim_id, member_id, organization_id
from domain.ledger import Ledger
from domain.ledger.checked import Checked
from domain.member import Member
from domain.organization import Organization
from domain.text import incoming_problem

# Aggregates per save: at most this many (a save is one transaction: fewer, larger saves
# record faster), at least MIN_AGGREGATES, and about a twentieth of the file's in between, so
# that a small file still moves its progress bar. Over a Unix socket PostgreSQL saves stay
# at MIN_AGGREGATES: a save of 1,000 new aggregates there has stalled in psycopg's pipeline.
MAX_AGGREGATES = 600
MIN_AGGREGATES = 100
# On SQLite (one writer, each commit a sync of the file) a save may hold more: each save
# costs a commit of about 15 ms whatever its size.
MAX_AGGREGATES_SQLITE = 3000
# Rows judged per turn of the ledger's writer when checking rows against the domain's rules.
CHECK_ROWS = 2000
# Aggregate ids per query when looking up what the store already holds.
LOOKUP_IDS = 1000
# Recorded values a contradiction may show (codes, not personal data).
SHOWN = ("kind", "parent_code", "region", "status", "category", "organization_code", "household_region")


class _Import:
    def __init__(self, ledger: Ledger, path: Path, kind: str, *, encoding: str | None, sheet: str | None,
                 on: date | None, progress: Progress | None, tag: str | None = None) -> None:
        if kind not in KINDS_OF_FILE:
            raise ImportFileError(f"kind must be one of {', '.join(KINDS_OF_FILE)}")
        self.ledger, self.path, self.kind = ledger, path, kind
        self.encoding, self.sheet, self.progress = encoding, sheet, progress
        self.on = ledger.context(on=on).on  # refuses a future or malformed date up front
        self.file = path.name
        self.result = Result(kind, self.file)
        self.headings: list[str] = []
        self.index: dict[str, int] = {}
        self.key = (ledger.env.get("LEDGER_ID_KEY") or "").encode()
        if tag is None:  # else a part of the file, in a worker process (api/importing/importer.py)
            tag = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else ""
        self.tag = tag
        self.absent: set[UUID] = set()
        self.checked = Checked()  # the rows' accepted results, judged once (domain/ledger/checked.py)
        self.freeze = gc.get_freeze_count() == 0  # unless the process froze objects of its own

    def problem(self, row: int, name: str, error: LedgerError | str, code: str = "validation_error") -> None:
        column = self.headings[self.index[name]] if name in self.index else name
        if isinstance(error, LedgerError):
            code, detail = error.code, error.detail
        else:
            detail = error
        self.result.problems.append(Problem(self.file, row, column, code, detail, self.index.get(name, -1)))

    def sort_problems(self) -> None:
        self.result.problems.sort(key=lambda p: (p.row, p.position, p.code))

    def tick(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    # reading and checking cells

    def cells(self, number: int, cells: list[Any]) -> tuple[list[Any], list[int]]:
        """A row's cells trimmed, and the places of those that are not text (a lone
        surrogate, NUL or another control character but tab and line breaks: domain/text.py),
        each a problem of its row and column."""
        trimmed, bad = [], []
        for place, cell in enumerate(cells):
            if isinstance(cell, str):
                problem = incoming_problem(cell)
                if problem is not None:
                    heading = self.headings[place] if place < len(self.headings) else f"column {place + 1}"
                    name = next((n for n, i in self.index.items() if i == place), heading)
                    self.problem(number, name, ValidationError(f"{heading} contains {problem}"))
                    bad.append(place)
                cell = cell if isinstance(cell, Damaged) else cell.strip()  # keeps its mark
            trimmed.append(cell)
        return trimmed, bad

    def read(self) -> list[Row]:
        headings, raw, encoding = read_table(self.path, encoding=self.encoding, sheet=self.sheet)
        self.result.encoding = encoding
        self.headings, unreadable = self.cells(1, headings)
        if unreadable:
            return []
        self.index, problems, self.result.ignored_columns = map_headings(self.kind, self.headings, self.file)
        self.result.problems.extend(problems)
        if problems:
            return []
        parsers = PARSERS[self.kind]
        absent = {c.name: None for c in COLUMNS[self.kind] if c.name not in self.index}  # optional columns left out
        rows = []
        for number, raw_cells in raw:
            cells, unreadable = self.cells(number, raw_cells)
            if not any(c != "" for c in cells):
                continue  # blank lines between blocks of a roster
            values: dict[str, Any] = {**absent, "_bad": True} if unreadable else dict(absent)
            bad = bool(unreadable)
            if self.result.encoding is not None and any(c != "" for c in cells[len(self.headings):]):
                # a CSV row (an Excel file has no encoding: read_table) longer than its heading
                # row: an unquoted comma moved the cells after it
                self.problem(number, f"column {len(self.headings) + 1}",
                             f"the row has {len(cells)} cells and the heading row {len(self.headings)}: "
                             "a comma inside a cell? put that cell in quotes")
                bad = True
            for name, i in self.index.items():
                cell = cells[i] if i < len(cells) else ""
                if i in unreadable:
                    values[name] = None
                    continue
                if cell == "":
                    values[name] = None
                    required = next(c.required for c in COLUMNS[self.kind] if c.name == name)
                    if required:
                        self.problem(number, name, f"{name} is required")
                        bad = True
                    continue
                try:
                    values[name] = parsers[name](cell)
                except LedgerError as error:
                    self.problem(number, name, error)
                    bad = True
            if bad:
                values["_bad"] = True
            rows.append(Row(number, values))
        self.result.rows = len(rows)
        return rows

    def duplicates(self, rows: list[Row], name: str, error: type[LedgerError], what: str) -> None:
        """A natural key given twice in the file: the second row (and any later) is refused."""
        first: dict[str, int] = {}
        for row in rows:
            value = row.values.get(name)
            if value is None:
                continue
            if value in first:
                self.problem(row.number, name, error(f"the same {what} as row {first[value]}"))
                row.values["_bad"] = True
            else:
                first[value] = row.number

    # what the ledger already holds

    def holding_organizations(self, rows: list[Row], codes: list[str]) -> None:
        """Each member's organization is in the ledger and holds members (checked on every
        row, also those with other bad cells). Each organization (`codes`: the rows', once
        each, in code order) is loaded once, in bulk, a part at a time (siblings share their
        ancestors)."""
        verdicts: dict[str, LedgerError | None] = {}
        for start in range(0, len(codes), CHECK_ROWS):
            part = codes[start:start + CHECK_ROWS]
            held = self.ledger.preload_organizations(part)
            for code in part:
                try:
                    (held.get(code) or self.ledger.organization(code)).check_can_hold()
                    verdicts[code] = None
                except LedgerError as error:
                    verdicts[code] = error
        for row in rows:
            verdict = verdicts.get(row.values.get("organization_code") or "")
            if verdict is not None:
                self.problem(row.number, "organization_code", verdict)
                row.values["_bad"] = True

    def first_events(self, ids: list[UUID]) -> dict[UUID, Any]:
        """The first event of each of these aggregates that the store holds."""
        found: dict[UUID, Any] = {}
        for start in range(0, len(ids), LOOKUP_IDS):
            for stored in first_stored_events(self.ledger, ids[start:start + LOOKUP_IDS]):
                found[stored.originator_id] = self.ledger.mapper.to_domain_event(stored)
        return found

    def compare(self, row: Row, recorded: Any, fields: dict[str, Any]) -> bool:
        """True if the row is what was recorded; else a problem naming each differing column."""
        differing = [name for name, value in fields.items() if getattr(recorded, name, None) != value]
        for name in differing:
            shown = f" ({getattr(recorded, name, None)})" if name in SHOWN else ""
            self.problem(row.number, name, Conflict(
                f"contradicts what the ledger recorded for this {'member' if self.kind == 'members' else 'code'}"
                f"{shown}"))
        return not differing

    def known(self, rows: list[Row]) -> list[Row]:
        """The rows the ledger does not hold yet (identical ones are skipped). Notes the ids
        the store lacks, as hints for the batches that follow."""
        if self.kind == "organizations":
            keys = [organization_id(row.values["code"]) for row in rows]
        else:
            keys = [member_id(row.values["registration_no"]) for row in rows]
            claims = [id_claim_id(id_card_digest(row.values["id_card_no"], self.key)) for row in rows]
            held = self.first_events(claims)
            self.absent.update(claim for claim in claims if claim not in held)
        first = self.first_events(keys)
        self.absent.update(key for key in keys if key not in first)
        fresh = []
        for done, (row, key) in enumerate(zip(rows, keys, strict=True), start=1):
            if done % 1000 == 0:
                self.tick("checking the ledger", done, len(rows))
            v = row.values
            recorded = first.get(key)
            if self.kind == "organizations":
                if recorded is None:
                    fresh.append(row)
                    continue
                if not isinstance(recorded, Organization.Registered):
                    self.problem(row.number, "code", Conflict("the code belongs to another record"))
                elif self.compare(row, recorded, {"name": v["name"], "kind": v["kind"],
                                                  "parent_code": v["parent_code"], "region": v["region"]}):
                    self.result.skipped += 1
            else:
                if recorded is None:
                    fresh.append(row)
                    continue
                if not isinstance(recorded, Member.Enrolled):
                    self.problem(row.number, "registration_no", Conflict("the number belongs to another record"))
                    continue
                fields = {k: v[k] for k in ("name", "gender", "birth_date", "joined_on", "status", "category",
                                            "organization_code", "household_region", "workplace", "residence")}
                fields["id_digest"] = id_card_digest(v["id_card_no"], self.key)
                same = [n for n in fields if getattr(recorded, n, None) == fields[n]]
                if len(same) == len(fields):
                    self.result.skipped += 1
                else:
                    for name in fields:
                        if name not in same:
                            column = "id_card_no" if name == "id_digest" else name
                            shown = f" ({getattr(recorded, name)})" if column in SHOWN else ""
                            self.problem(row.number, column, Conflict(
                                f"contradicts what the ledger recorded for {v['registration_no']}{shown}"))
        self.tick("checking the ledger", len(rows), len(rows))
        return fresh

    # the domain's rules, through the Ledger's own commands

    def command(self, row: Row) -> Callable[[], object]:
        v, ledger = row.values, self.ledger
        request_id = f"import-{self.tag}-{row.number}"
        if self.kind == "organizations":
            return lambda: ledger.register_organization(
                v["code"], v["name"], v["kind"], v["parent_code"], v["region"],
                actor=SYSTEM, on=self.on, request_id=request_id)
        return lambda: ledger.import_member(
            v["organization_code"], registration_no=v["registration_no"], status=v["status"], name=v["name"],
            id_card_no=v["id_card_no"], gender=v["gender"], birth_date=v["birth_date"], joined_on=v["joined_on"],
            category=v["category"], household_region=v["household_region"], workplace=v["workplace"],
            residence=v["residence"], actor=SYSTEM, on=self.on, request_id=request_id)

    def column_of(self, error: LedgerError) -> str:
        """The column a domain refusal is about, from its code and wording."""
        if self.kind == "organizations":
            if "sits only under" in error.detail:
                return "kind"
            if error.code in ("not_found", "organization_dissolved", "period_closed", "before_last_event") or any(
                    word in error.detail for word in ("children", "root", "parent")):
                return "parent_code"
            if error.code == "conflict":
                return "code"
        else:
            if error.code in ("not_found", "cannot_hold_members", "organization_dissolved",
                              "period_closed", "before_last_event"):
                return "organization_code"
            if error.code == "duplicate_registration":
                return "id_card_no" if "resident ID" in error.detail else "registration_no"
            if "birth_date" in error.detail or "18 or older" in error.detail:
                return "birth_date"
        for column in COLUMNS[self.kind]:
            if error.detail.startswith(column.name):
                return column.name
        return ""

    def check(self, chunks: list[list[Row]]) -> None:
        """Judge every chunk's rows by the Ledger's commands, each chunk on top of the ones
        before it (children see their parents), keeping the results for `record`."""
        done = rows = 0
        while done < len(chunks):
            part = [chunks[done]]
            while done + len(part) < len(chunks) and sum(map(len, part)) < CHECK_ROWS:
                part.append(chunks[done + len(part)])

            def refused(number: int, index: int, error: LedgerError, part: list[list[Row]] = part) -> None:
                self.problem(part[number][index].number, self.column_of(error), error)

            if self.kind == "members":  # their organizations and the chains above, in bulk
                self.ledger.preload_organizations(row.values["organization_code"] for chunk in part for row in chunk)
            self.ledger.check([[self.command(row) for row in chunk] for chunk in part], keep=self.checked,
                              on_error=refused, absent=self.absent)
            if self.freeze:  # what was decided so far lives until it is saved: not walked by the
                gc.freeze()  # garbage collector again (its full collections grew with the file)
            done += len(part)
            rows += sum(map(len, part))
            self.tick("checking rules", rows, sum(map(len, chunks)))

    def order_organizations(self, rows: list[Row]) -> list[Row]:
        """Parents before children; a parent missing from the file and the ledger, or a cycle,
        is a problem of the child's row."""
        by_code = {row.values["code"]: row for row in rows}
        ordered: list[Row] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        for row in rows:
            path: list[Row] = []
            node: Row | None = row
            while node is not None and state.get(node.values["code"]) is None:
                state[node.values["code"]] = 1
                path.append(node)
                parent = node.values.get("parent_code")
                node = by_code.get(parent) if parent else None
                if node is not None and state.get(node.values["code"]) == 1:
                    for member in path[path.index(node):]:
                        self.problem(member.number, "parent_code", ValidationError(
                            "the parents in the file form a cycle"))
                        member.values["_bad"] = True
                    node = None
            for item in reversed(path):
                state[item.values["code"]] = 2
                ordered.append(item)
        return ordered

    # recording

    def batch_bound(self, rows: list[Row]) -> int:
        """Aggregates per save for these rows (see MAX_AGGREGATES)."""
        env = self.ledger.env
        if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres" and (env.get("POSTGRES_HOST") or "/")[0] == "/":
            return MIN_AGGREGATES
        most = MAX_AGGREGATES_SQLITE if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" else MAX_AGGREGATES
        return max(MIN_AGGREGATES, min(most, 3 * len(rows) // 20))

    def batches(self, rows: list[Row]) -> Iterator[list[Row]]:
        bound = self.batch_bound(rows)
        batch: list[Row] = []
        touched: set[str] = set()
        for row in rows:
            v = row.values
            if self.kind == "organizations":
                keys = {v["code"], v["parent_code"] or ""}
            else:
                keys = {v["registration_no"], "id:" + v["registration_no"], v["organization_code"]}
            if batch and len(touched) + len(keys - touched) > bound:
                yield batch
                batch, touched = [], set()
            batch.append(row)
            touched |= keys
        if batch:
            yield batch

    def record(self, chunks: list[list[Row]]) -> None:
        """Save the checked chunks in order, each as it was judged (one save each), then a
        snapshot of each organization saved (those of more than a few events,
        domain/ledger/store.py's `write_snapshots`): a branch's aggregate carries an event
        for every member it ever received, an organization's for every child, and the next
        file's import loads each from its snapshot instead of from all of them (unless
        `LEDGER_IMPORT_SNAPSHOTS` is false)."""
        with self.ledger.collecting_saved(Organization) as organizations:
            self.record_chunks(chunks)
        if self.ledger.import_snapshots:
            self.ledger.write_snapshots(organizations.values())

    def record_chunks(self, chunks: list[list[Row]]) -> None:
        done, total = 0, sum(map(len, chunks))
        for index, batch in enumerate(chunks):
            failed: list[tuple[Row, LedgerError]] = []

            def refused(index: int, error: LedgerError, batch: list[Row] = batch,
                        failed: list[tuple[Row, LedgerError]] = failed) -> None:
                failed.append((batch[index], error))

            def commands(batch: list[Row] = batch) -> list[Callable[[], object]]:
                return [self.command(row) for row in batch]  # only if the chunk is judged again

            position = self.ledger.record_checked(self.checked, index, commands, on_error=refused)
            if failed:  # a change between the check and now (another process acting)
                for row, error in failed:
                    self.problem(row.number, self.column_of(error), error)
                return
            done += len(batch)
            self.result.recorded = done
            self.result.position = position or self.result.position
            self.tick("recording", done, total)

    def prepare(self) -> list[Row]:
        """Read and check every cell, and the duplicates within the file."""
        rows = self.read()
        if self.kind == "organizations":
            self.duplicates(rows, "code", Conflict, "organization code")
        else:
            self.duplicates(rows, "registration_no", DuplicateRegistration, "registration number")
            self.duplicates(rows, "id_card_no", DuplicateRegistration, "resident ID number")
        return rows

    def decide(self, rows: list[Row], kept: contextlib.ExitStack) -> tuple[list[list[Row]], list[Row]]:
        """Judge the rows read (`prepare`) against the ledger: their organizations, what the
        ledger holds already, then the new ones by the domain's rules (`check`): the chunks to
        record and their rows. A members file's organizations stay in memory until `kept`
        closes."""
        kind = self.kind
        if kind == "members":
            # room for the file's organizations, and as many again for the chains above them:
            # loaded to check the rows, then judged on (else a file naming more than the cache
            # holds would load them twice)
            codes = sorted({code for row in rows if isinstance(code := row.values.get("organization_code"), str)})
            kept.enter_context(self.ledger.keeping(2 * len(codes)))
            self.holding_organizations(rows, codes)
        good = [row for row in rows if not row.values.get("_bad")]
        fresh = self.known(good)
        if kind == "organizations":
            fresh = self.order_organizations(fresh)
            fresh = [row for row in fresh if not row.values.get("_bad")]
            codes_in_file = {row.values["code"] for row in fresh}
            bad_codes = {row.values.get("code") for row in rows if row.values.get("_bad")}
            for row in list(fresh):
                parent = row.values["parent_code"]
                if parent and parent not in codes_in_file:
                    try:
                        self.ledger.organization(parent)
                    except NotFound:
                        fresh.remove(row)
                        if parent not in bad_codes:  # else the parent's own row has the problem
                            self.problem(row.number, "parent_code", NotFound(
                                f"parent {parent!r} is neither in the file nor in the ledger"))
        else:
            fresh.sort(key=lambda row: (row.values["organization_code"], row.number))
        chunks = list(self.batches(fresh))
        self.check(chunks)
        return chunks, fresh

    def start(self) -> list[Row]:
        """The planner's statistics taken where stale, then the file read (`prepare`)."""
        clock = time.monotonic()
        store_statistics(self.ledger)  # else, near a million members, each lookup may take 100 ms
        rows = self.prepare()
        self.result.seconds["read"] = time.monotonic() - clock
        return rows

    def run(self, rows: list[Row], dry_run: bool) -> Result:
        """Decide the rows read (`start`) and, if none has a problem, record them, in this
        process."""
        clock = time.monotonic()
        with contextlib.ExitStack() as kept:
            chunks, fresh = self.decide(rows, kept)
        self.result.seconds["check"] = time.monotonic() - clock
        self.sort_problems()
        if self.result.problems:
            return self.result
        if dry_run:
            self.result.recorded = len(fresh)
            return self.result
        clock = time.monotonic()
        before = self.ledger.max_position()
        self.record(chunks)
        self.after_recording(before)
        self.result.seconds["record"] = time.monotonic() - clock
        self.sort_problems()
        return self.result

    def after_recording(self, before: int) -> None:
        if self.result.recorded:  # the events it added, which the server may not have counted yet
            store_statistics(self.ledger, written=max(0, self.result.position - before))
