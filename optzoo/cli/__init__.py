"""The ``optzoo`` command: ``list``, ``schedule``, ``race`` and ``bench``.

::

    optzoo list                                   every optimizer and schedule
    optzoo schedule cosine_decay --set decay_steps=500 --out cosine.png
    optzoo schedule --compare step_decay,cosine_decay,one_cycle
    optzoo race                                   the classic zoo on the digits
    optzoo race --problem rosenbrock --optimizers sgd,adam,rmsprop --steps 2000
    optzoo bench ...                              benchmarks (``optzoo.cli.bench``)

``python -m optzoo`` and ``python -m optzoo.cli`` are the same command. Bad input (unknown
names, a malformed ``--set``, an unwritable ``--out``) prints one line naming the valid
choices and exits with status 2.

One module per subcommand (``list_cmd``, ``schedule_cmd``, ``race_cmd``, ``bench_cmd``), each
with ``add_parser(subparsers)`` and ``run(args) -> exit status``; the race engine, its tables
and plots are in ``race_*``, the benchmark engine in the ``bench`` package. Race defaults
(learning rates per problem and optimizer) are in :mod:`optzoo.cli.race_settings`. The library
itself never imports this package, nor rich, matplotlib, torch or keras.
"""

from __future__ import annotations

import argparse
import os
import sys

from optzoo.cli import bench_cmd, list_cmd, race_cmd, schedule_cmd
from optzoo.cli.common import Parser, UsageError
from optzoo.cli.race_settings import (
    CLASSIC_ZOO,
    PROBLEMS,
    RACE_LEARNING_RATES,
    RACE_STEPS,
    RACE_TARGETS,
)

__all__ = ["main", "RACE_LEARNING_RATES", "RACE_STEPS", "RACE_TARGETS", "CLASSIC_ZOO", "PROBLEMS"]

COMMANDS = {"list": list_cmd, "schedule": schedule_cmd, "race": race_cmd, "bench": bench_cmd}


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="optzoo", description="The optimizer and learning-rate schedule zoo for JAX.")
    p.add_argument("--version", action="version", version=f"optzoo {_version()}",
                   help="the installed optzoo version")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return p


def _version() -> str:
    """The installed distribution's version (``importlib.metadata``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optzoo")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run the ``optzoo`` command; returns the exit status (2 for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] == "bench":  # everything after `bench` belongs to the benchmarks
        args = argparse.Namespace(command="bench", rest=argv[1:])
    else:
        try:
            args = parser.parse_args(argv)
        except UsageError as e:
            print(f"optzoo: error: {e}", file=sys.stderr)
            return 2
        except SystemExit as e:  # --help, --version
            return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        return COMMANDS[args.command].run(args)
    except UsageError as e:
        print(f"optzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
