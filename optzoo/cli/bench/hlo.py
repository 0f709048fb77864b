"""What a compiled step does to memory, read from its optimized HLO text."""

from __future__ import annotations

import re
from typing import Any

_SHAPE = re.compile(r"(pred|s8|u8|s16|u16|s32|u32|s64|u64|f16|bf16|f32|f64)\[([0-9,]*)\]")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
          "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
_FREE = {"parameter", "tuple", "get-tuple-element", "bitcast", "constant"}


def _shape_bytes(text: str) -> int:
    total = 0
    for dtype, dims in _SHAPE.findall(text):
        n = 1
        for d in dims.split(","):
            if d:
                n *= int(d)
        total += n * _BYTES[dtype]
    return total


def hlo_report(compiled_text: str) -> dict[str, Any]:
    """Read the optimized HLO of a compiled step (``jit(f).lower(...).compile().as_text()``).

    Returns the number of fusions and other kernels in the entry computation, the
    number of ``copy`` instructions, the bytes those kernels read and write (each
    operand and result counted once per kernel: the passes over memory), and
    whether every donated parameter is aliased to an output.
    """
    lines = compiled_text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("ENTRY"))
    except StopIteration:
        return {}
    sizes: dict[str, int] = {}
    kernels = fusions = copies = moved = 0
    for ln in lines[start + 1:]:
        if ln.startswith("}"):
            break
        m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (.+?) ([\w\-]+)\((.*?)\)(,|$)", ln)
        if not m:
            continue
        name, shape, op, args = m.group(1), m.group(2), m.group(3), m.group(4)
        # A multi-output fusion returns a tuple: each of its results is written.
        out_bytes = _shape_bytes(shape)
        sizes[name] = out_bytes
        if op in _FREE:
            continue
        kernels += 1
        fusions += op == "fusion"
        copies += op == "copy"
        operands = re.findall(r"%([\w.\-]+)", args)
        moved += out_bytes + sum(sizes.get(o, 0) for o in operands)
    header = lines[0] if lines else ""
    n_alias = len(re.findall(r"may-alias|must-alias", header))
    return {"kernels": kernels, "fusions": fusions, "copies": copies, "bytes_moved": moved,
            "aliased_outputs": n_alias}


def analyse(compiled) -> dict[str, Any]:
    """hlo_report of a compiled executable plus its temporary buffer size."""
    if compiled is None:
        return {}
    rep = hlo_report(compiled.as_text())
    try:
        rep["temp_mb"] = compiled.memory_analysis().temp_size_in_bytes / 2**20
    except Exception:  # noqa: BLE001 - not every backend reports it
        pass
    return rep
