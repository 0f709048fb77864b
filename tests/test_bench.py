"""Smoke test of the update-step benchmark: it runs and prints its tables.

No timing is asserted; only that every implementation ran and the report has the
expected shape.
"""

import re

import pytest

from optzoo.cli import bench


def test_hlo_report_counts_kernels_bytes_and_aliasing():
    text = """HloModule jit_f, input_output_alias={ {0}: (0, {}, may-alias), {1}: (1, {}, may-alias) }, entry_computation_layout={(f32[8]{0}, f32[8]{0}, f32[8]{0})->(f32[8]{0}, f32[8]{0})}

%fused_computation (param_0: f32[8], param_1: f32[8]) -> f32[8] {
  ROOT %add.0 = f32[8]{0} add(%param_0, %param_1)
}

ENTRY %main (p: f32[8], s: f32[8], g: f32[8]) -> (f32[8], f32[8]) {
  %p = f32[8]{0} parameter(0)
  %s = f32[8]{0} parameter(1)
  %g = f32[8]{0} parameter(2)
  %fusion.1 = f32[8]{0} fusion(%s, %g), kind=kLoop, calls=%fused_computation
  %fusion.2 = f32[8]{0} fusion(%p, %fusion.1), kind=kLoop, calls=%fused_computation
  %copy.1 = f32[8]{0} copy(%fusion.2)
  ROOT %tuple = (f32[8]{0}, f32[8]{0}) tuple(%copy.1, %fusion.1)
}
"""
    rep = bench.hlo_report(text)
    assert rep["kernels"] == 3
    assert rep["fusions"] == 2
    assert rep["copies"] == 1
    assert rep["bytes_moved"] == 3 * 32 + 3 * 32 + 2 * 32
    assert rep["aliased_outputs"] == 2


def test_hlo_report_counts_every_result_of_a_multi_output_fusion():
    text = """HloModule jit_f, input_output_alias={ {0}: (0, {}, may-alias), {1}: (1, {}, may-alias) }

ENTRY %main (p: f32[8], s: f32[8], g: f32[8]) -> (f32[8], f32[8]) {
  %p = f32[8]{0} parameter(0)
  %s = f32[8]{0} parameter(1)
  %g = f32[8]{0} parameter(2)
  %fusion = (f32[8]{0}, f32[8]{0}) fusion(%p, %s, %g), kind=kLoop, calls=%fused_computation
  %gte.0 = f32[8]{0} get-tuple-element(%fusion), index=0
  %gte.1 = f32[8]{0} get-tuple-element(%fusion), index=1
  ROOT %tuple = (f32[8]{0}, f32[8]{0}) tuple(%gte.0, %gte.1)
}
"""
    rep = bench.hlo_report(text)
    assert rep["kernels"] == 1 and rep["fusions"] == 1
    assert rep["bytes_moved"] == 3 * 32 + 2 * 32  # reads p, s, g; writes p and s


def test_min_traffic():
    assert bench.min_traffic_bytes(0) == 12  # SGD: read p, g; write p
    assert bench.min_traffic_bytes(2) == 28  # Adam


def test_quick_run_prints_the_table(tmp_path, capsys):
    out = tmp_path / "RESULTS.md"
    status = bench.main(
        ["--quick", "--sizes", "tiny", "--optimizers", "adam", "--repeats", "2",
         "--sample-ms", "1", "--out", str(out)]
    )
    assert status == 0
    printed = capsys.readouterr().out
    text = out.read_text()
    for report in (printed, text):
        assert "optzoo/optax" in report and "optzoo/torch fused" in report
        rows = [ln for ln in report.splitlines() if re.match(r"\| adam \|", ln)]
        assert len(rows) == 1, rows
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert float(cells[1]) > 0  # optzoo ms
            assert float(cells[2]) > 0  # optzoo/optax
    assert "Machine:" in text and "threads" in text
    assert "GPU: not measured" in text


def test_rejects_unknown_names(capsys):
    assert bench.main(["--optimizers", "nope", "--sizes", "tiny"]) == 2
    assert bench.main(["--sizes", "z"]) == 2


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--repeats", "-1"], "--repeats must be an integer in [1, "),
        (["--repeats", "0"], "--repeats must be an integer in [1, "),
        (["--threads", "0"], "--threads must be an integer in [1, "),
        (["--sample-ms", "0"], "--sample-ms must be a number in (0, "),
        (["--compile-repeats", "-2"], "--compile-repeats must be an integer in [0, "),
        (["--nope"], "unrecognized arguments"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(argv, needle, capsys):
    assert bench.main(["--sizes", "tiny", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_optimizer_groups_classic_by_default_modern_and_all():
    from optzoo.cli.bench.command import _parser
    from optzoo.cli.bench.specs import MODERN, OPTIMIZERS, select, specs

    assert _parser().parse_args([]).optimizers == "classic"
    every = specs()
    classic, modern, both = (select(every, g) for g in ("classic", "modern", "all"))
    assert modern and set(modern) <= set(MODERN) and not set(classic) & set(MODERN)
    assert set(classic) <= set(OPTIMIZERS) and "adam" in classic
    assert list(both) == list(classic) + list(modern)
    assert list(select(every, "adam,modern,adam")) == ["adam", *modern]  # each once, in order
    with pytest.raises(ValueError, match="unknown or unavailable optimizers \\['nope'\\].*classic"):
        select(every, "modern,nope")


def test_flat_layout_adds_flat_columns_whole_step_and_model_tables(tmp_path, capsys, monkeypatch):
    from optzoo.cli.bench import flat

    torch = pytest.importorskip("torch")
    monkeypatch.setattr(flat, "SEPARATE_PROCESS", False)  # torch "alone" in this process
    out = tmp_path / "RESULTS.md"
    try:
        status = bench.main(
            ["--quick", "--sizes", "tiny", "--optimizers", "adam", "--repeats", "1",
             "--sample-ms", "1", "--layout", "both", "--no-train-step", "--compile-repeats", "0",
             "--model-widths", "8", "--model-layers", "2", "--model-batch", "4", "--out", str(out)]
        )
    finally:
        torch.set_flush_denormal(False)  # the bench sets it; other tests compare torch's numbers
    assert status == 0
    text = out.read_text()

    def table(title):
        lines = text.splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
        rows = []
        for ln in lines[start + 2:]:
            if not ln.startswith("|"):
                break
            rows.append([c.strip() for c in ln.strip("|").split("|")])
        return {name: dict(zip(rows[0], row)) for name, row in
                zip(range(len(rows) - 2), rows[2:])}

    update = table("## (tiny)")[0]
    assert float(update["flat/optzoo"]) > 0 and float(update["flat/torch fused"]) >= 0
    step = table("## Whole training step")[0]
    model = table("## End to end")[0]
    for row in (step, model):
        assert row["optimizer"] == "adam"
        for col in ("flat ms", "flat/tree", "flat/torch fused", "flat/torch foreach alone"):
            assert float(row[col]) > 0, (col, row)  # (no timing asserted, only that it ran)
    assert float(step["compile tree s"]) > 0 and float(step["compile flat/tree"]) > 0
    assert float(model["compile flat s"]) > 0 and float(model["1,000 steps + compile, flat/tree"]) > 0
    assert "8 leaves (0 kept)" in model["model"]
    assert "Flat layout (`--layout`)" in text


def test_flat_layout_times_refusing_optimizers_in_the_tree_layout(capsys):
    status = bench.main(["--quick", "--sizes", "tiny", "--optimizers", "adafactor", "--repeats",
                         "1", "--sample-ms", "1", "--layout", "flat", "--no-torch",
                         "--no-train-step", "--compile-repeats", "0", "--model-widths", "none"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "optzoo in the flat layout" in printed
    assert "adafactor: refuses a FlatParams; its row is the tree layout" in printed
    assert "## Whole training step" in printed and "## End to end" not in printed


def test_flat_layout_options_are_checked(capsys):
    assert bench.main(["--layout", "pile", "--sizes", "tiny"]) == 2
    assert bench.main(["--layout", "flat", "--model-widths", "8,x", "--sizes", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "--model-widths must be positive integers or 'none', got '8,x'" in err


def test_compile_table_is_left_out_without_samples(capsys):
    """--layout flat times no tree-layout step at (c): no compile-time table, not an
    empty one."""
    from optzoo.cli.bench import report
    from optzoo.cli.bench.specs import select, specs

    assert report.compile_times(select(specs(), "adam"), 0, None, {}) == []
    assert capsys.readouterr().out == ""
