"""``optzoo bench``: every argument after ``bench`` goes to the benchmark engine,
:mod:`optzoo.cli.bench`."""

from __future__ import annotations

import argparse

from optzoo.cli.common import UsageError


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks (arguments go to optzoo.cli.bench)",
                       add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)


def run(args) -> int:
    try:
        from optzoo.cli import bench
    except ImportError as e:
        raise UsageError(f"benchmarks are not available ({e})") from None
    code = bench.main(list(args.rest))
    return int(code or 0)
