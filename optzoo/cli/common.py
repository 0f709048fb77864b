"""What every subcommand shares: the one-line usage error, the optional-dependency check,
option validators, the console, output-path checks."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

#: the extra that installs every dependency of every command's defaults
CLI_EXTRA = 'pip install "optzoo[cli]"'
#: import name -> distribution name, where they differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are a :class:`UsageError` (one line, no usage dump)."""

    def error(self, message):
        raise UsageError(message)


def require(command: str, *modules: str) -> None:
    """Raise a one-line :class:`UsageError` naming the extra to install unless every
    module in ``modules`` can be imported. Each command calls this first, before it
    opens any output file, so a missing dependency writes nothing."""
    missing = [m for m in modules if not _importable(m)]
    if missing:
        names = ", ".join(_DISTRIBUTIONS.get(m, m) for m in missing)
        raise UsageError(f"optzoo {command} needs {names}, which is not installed: {CLI_EXTRA}")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked parent, or ``sys.modules[module] = None``
        return False


def int_in(option: str, low: int, high: int):
    """An argparse ``type=`` for an integer option in ``[low, high]``; anything else is a
    one-line :class:`UsageError`: ``--steps must be an integer in [1, 2147483647], got -1``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise UsageError(f"{option} must be an integer in [{low}, {high}], got {text}")
        return value

    parse.__name__ = "int"
    return parse


def float_in(option: str, low: float, high: float = float("inf"), *, low_open: bool = False):
    """An argparse ``type=`` for a real option in ``[low, high]`` (``(low, high]`` with
    ``low_open``), NaN rejected."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high == float('inf') else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        ok = (value > low if low_open else value >= low) and value <= high
        if not ok:  # also NaN
            raise UsageError(f"{option} must be a number in {interval}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


INT32_MAX = 2**31 - 1  # step counters are int32
SEED_MAX = 2**32 - 1  # NumPy and JAX seeds


def console():
    """A rich console: the terminal's width, or 120 columns when the output is not a terminal."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120)


def choices(values) -> str:
    """``values`` sorted and comma-separated, for "choose from: ..." messages."""
    return ", ".join(sorted(values))


def names_list(text: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated option value."""
    return [n.strip() for n in text.split(",") if n.strip()]


def _checked(path: Path, probe: Path, make_dir: Path) -> Path:
    try:
        make_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "ab"):
            pass
        if probe != path:
            probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write --out {str(path)!r}: {e.strerror or e}") from None
    return path


def writable_file(path: Path) -> Path:
    """``path``, once its folder exists and the file can be opened for writing."""
    return _checked(path, path, path.parent)


def writable_dir(path: Path) -> Path:
    """``path``, once it exists as a folder in which a file can be written."""
    return _checked(path, path / ".optzoo-write-test", path)
