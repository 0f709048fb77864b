"""What every subcommand shares: the one-line usage error, the console, output-path checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are a :class:`UsageError` (one line, no usage dump)."""

    def error(self, message):
        raise UsageError(message)


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
