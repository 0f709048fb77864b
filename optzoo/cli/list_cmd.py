"""``optzoo list``: every optimizer and schedule with its family, reference, flavors and parity."""

from __future__ import annotations

from optzoo.cli.common import console as make_console


def add_parser(sub) -> None:
    sub.add_parser("list", help="every optimizer and schedule: family, reference, flavors, parity")


def run(args) -> int:
    from rich.table import Table

    from optzoo import catalog

    record = catalog.parity_record()
    console = make_console()
    for title, rows in (
        ("Optimizers", catalog.optimizer_rows(record)),
        ("Schedules", catalog.schedule_rows(record)),
    ):
        table = Table(title=f"{title} ({len(rows)})", title_justify="left")
        for col in ("name", "family", "reference", "flavors", "parity-verified"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.name, r.family, r.reference, r.flavors, r.verified)
        console.print(table)
    if not record:
        console.print("No parity record (docs/parity.md); run `python -m tests.parity.report`.")
    return 0
