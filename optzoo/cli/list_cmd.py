"""``optzoo list``: every optimizer, wrapper and schedule of the registry with its family,
reference, flavors and parity; ``--json`` for machines, ``--markdown`` for the README."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from optzoo.cli.common import UsageError, require
from optzoo.cli.common import console as make_console


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="every optimizer and schedule: family, reference, flavors, parity")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the registry and parity record as JSON")
    fmt.add_argument("--markdown", action="store_true", help="the README's zoo tables")
    p.add_argument("--readme", metavar="PATH", help="with --markdown: rewrite the tables in PATH")


def run(args) -> int:
    if args.readme and not args.markdown:
        raise UsageError("--readme goes with --markdown")
    if not (args.json or args.markdown):
        require("list", "rich")
    from optzoo import catalog

    if args.json:
        json.dump(catalog.as_json(), sys.stdout, indent=1)
        print()
        return 0
    if args.markdown:
        if not args.readme:
            print(catalog.markdown())
            return 0
        path = Path(args.readme)
        try:
            path.write_text(catalog.update_readme(path.read_text()))
        except (OSError, ValueError) as e:
            raise UsageError(f"--readme {path}: {e}") from None
        print(f"wrote the zoo tables into {path}")
        return 0
    return _tables(catalog)


def _tables(catalog) -> int:
    from rich.table import Table

    record = catalog.parity_record()
    console = make_console()
    for title, rows in (
        ("Optimizers and wrappers", catalog.optimizer_rows(record)),
        ("Schedules", catalog.schedule_rows(record)),
    ):
        table = Table(title=f"{title} ({len(rows)})", title_justify="left")
        for col in ("name", "family", "reference", "flavors", "parity-verified"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.name, r.family, r.reference, r.flavors, r.verified)
        console.print(table)
    if not record:
        console.print("No parity record (optzoo/parity.json); run `python -m tests.parity.report`.")
    return 0
