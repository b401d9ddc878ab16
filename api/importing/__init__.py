"""Importing rosters: organizations and members from CSV and Excel (.xlsx) files.

An import is all or nothing for the rows it checks: every row is read and checked first
(cells, duplicates within the file, parents, what the ledger already holds, and then every
domain rule, by the Ledger's own commands `Ledger.register_organization` and
`Ledger.import_member`, each row judged once, in chunks of a few hundred aggregates
(MAX_AGGREGATES; more on SQLite), each chunk on top of what the chunks before it decided), and only a file
without a single problem is recorded: the chunks are saved as the check judged them
(domain/ledger/checked.py), each one atomic save. Rows identical to what the ledger
recorded for the same natural key (organization code, registration number) are skipped, so
importing a file twice records nothing new; a row that contradicts the record is a problem.

The import acts as the system (like `ledger org add-root`): it runs where the store is,
not through the API, and every event it records carries the request id
`import-<first 12 hex digits of the file's SHA-256>-<row>`, which ties it to the file.

A big members file is decided and recorded in parts, by worker processes, one per core,
each with the rows of its own organizations; still all or nothing (`parts`).

The package: `columns` (the files' columns, a row's problems, the result), `reading` (CSV
and Excel files, their headings and cells), `lookups` (what the store already holds), `job`
(one file's import: check every row, then record), `parts` (worker processes, and the split
of a file among them) and `importer` (`import_file`: this process alone, or in parts).
"""

from api.importing.columns import (
    COLUMNS,
    KINDS_OF_FILE,
    MEMBER_COLUMNS,
    ORGANIZATION_COLUMNS,
    Column,
    ImportFileError,
    Problem,
    Result,
)
from api.importing.importer import import_file
from api.importing.job import MAX_AGGREGATES, MIN_AGGREGATES
from api.importing.lookups import first_stored_events

__all__ = ["COLUMNS", "KINDS_OF_FILE", "MAX_AGGREGATES", "MEMBER_COLUMNS", "MIN_AGGREGATES", "ORGANIZATION_COLUMNS",
           "Column", "ImportFileError", "Problem", "Result", "first_stored_events", "import_file"]
