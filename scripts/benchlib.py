"""What the benchmark scripts share: a description of the machine they ran on, and
replacing one `## ` section of docs/BENCHMARKS.md while keeping every other."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg


def machine(postgres_url: str, packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """CPUs, memory, versions (Python, PostgreSQL and its synchronous_commit, SQLite, the
    libraries and `packages`) and the load average now."""
    memory = cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    postgres = commit = "unreachable"
    with contextlib.suppress(psycopg.Error), psycopg.connect(postgres_url, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        synchronous = conn.execute("SHOW synchronous_commit").fetchone()
        postgres, commit = (version[0] if version else "?"), (synchronous[0] if synchronous else "?")
    return {"nproc": os.cpu_count(), "memory": memory, "cpu": cpu, "python": platform.python_version(),
            "postgres": postgres, "synchronous_commit": commit, "sqlite": sqlite3.sqlite_version,
            "eventsourcing": metadata.version("eventsourcing"), "psycopg": psycopg.__version__,
            **{name: metadata.version(name) for name in packages},
            "load_start": [round(x, 2) for x in os.getloadavg()]}


def replace_section(path: Path, section: str, title: str) -> None:
    """Replace the section headed `title` (a `## ` line) by `section`, or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if start is None:
        before, after = lines, []
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, after = lines[:start], lines[end:]
    while before and not before[-1].strip():
        before = before[:-1]
    result = [*before, "", *section.splitlines(), ""]
    if after:
        result.extend(["", *after] if after[0].strip() else after)
    path.write_text("\n".join(result).rstrip() + "\n")
