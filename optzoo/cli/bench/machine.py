"""The machine under test: its description for the report, and pinning the process to N cores."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Sequence


def machine_description(device: str) -> list[str]:
    """Markdown bullet lines: CPU, memory, cores, library versions, device and threads, load."""
    import jax
    import jaxlib
    import numpy
    import optax

    try:
        import torch

        torch_version = torch.__version__
        torch_threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        torch_version, torch_threads = "absent", None
    lines = [f"- date (UTC): {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"]
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        keep = ("Model name", "CPU(s):", "Thread(s) per core", "Core(s) per socket", "L2 cache",
                "L3 cache", "Flags")
        for ln in out.splitlines():
            if ln.startswith(keep):
                key, _, val = ln.partition(":")
                val = val.strip()
                if key == "Flags":
                    val = " ".join(f for f in val.split() if f.startswith(("avx512f", "avx2", "amx")))
                lines.append(f"- lscpu {key.strip()}: {val}")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        mem = next(ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
        lines.append(f"- memory: {int(mem.split()[1]) / 2**20:.1f} GiB")
    except (OSError, StopIteration):
        pass
    lines.append(f"- cores this process runs on (sched_getaffinity; --threads pins it): "
                 f"{len(os.sched_getaffinity(0))}")
    lines.append(f"- python {platform.python_version()}, jax {jax.__version__}, jaxlib "
                 f"{jaxlib.__version__}, optax {optax.__version__}, torch {torch_version}, "
                 f"numpy {numpy.__version__}")
    lines.append(f"- device: {device} ({jax.devices(device if device != 'gpu' else 'gpu')[0].device_kind})")
    if device == "cpu":
        lines.append(f"- threads: torch.get_num_threads() = {torch_threads} "
                     f"(XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r})")
    lines.append(f"- load average at start (1, 5, 15 min): {load_average()}")
    return lines


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, space-separated."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pin_threads(threads: int | None, argv: Sequence[str]) -> int:
    """Pin this process, XLA's threads and torch's alike, to ``threads`` cores.

    The affinity is set before JAX starts its backend (threads created later inherit
    it); when the backend is already running, the benchmark is re-run in a fresh process
    that inherits the narrower affinity. XLA's own thread-pool flags are not used:
    with jaxlib 0.10 (thunk runtime) they leave its loops running on every core.
    """
    cores = sorted(os.sched_getaffinity(0))
    if threads is None or threads >= len(cores):
        return len(cores)
    if threads < 1:
        raise SystemExit(f"optzoo bench: --threads must be at least 1, got {threads}")
    os.sched_setaffinity(0, cores[:threads])
    if _jax_backend_started():
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "optzoo.cli.bench", *argv])
    return threads


def _jax_backend_started() -> bool:
    """Whether JAX has created its backends, and with them XLA's thread pools.

    JAX has no public API that answers this; the answer comes from the private
    ``jax._src.xla_bridge``, used here and nowhere else. Should that module change,
    the answer is "yes": the benchmark then re-runs itself in a fresh process (already
    pinned, so only once), which costs a start-up and measures the same.
    """
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        return True
