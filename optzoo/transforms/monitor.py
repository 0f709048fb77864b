"""Gradient monitoring: per-leaf norms, running statistics and vanishing/exploding
flags kept in the optimizer state, and a readable report of them."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo import registry as R


class MonitorState(NamedTuple):
    """State of :func:`monitor_gradients`. Every field but ``count`` is a pytree
    shaped like the params with one scalar per leaf."""

    count: jax.Array  # int32, saturating: gradients seen
    norm: Any  # ||g_leaf||_2 of the latest gradient
    mean: Any  # running mean of the norm over all steps
    max: Any  # running max of the norm
    vanishing: Any  # bool: latest norm flagged vanishing
    exploding: Any  # bool: latest norm flagged exploding (or not finite)


@R.register(
    kind="wrapper", family="monitoring", reference="Hochreiter 1991; Pascanu et al. 2013",
    year=2013,
    ranges={"vanishing_ratio": "[0, 1]", "vanishing_threshold": "[0, inf)",
            "exploding_threshold": "(0, inf)"},
    examples={"": dict(vanishing_ratio=1e-2, vanishing_threshold=1e-6, exploding_threshold=1e2)},
)
@v.named
def monitor_gradients(
    vanishing_ratio: float = 1e-3,
    vanishing_threshold: float = 1e-8,
    exploding_threshold: float = 1e3,
) -> optax.GradientTransformation:
    r"""Pass gradients through unchanged; keep per-leaf gradient statistics in the state.

    For each leaf with gradient ``g`` at step ``t = count``::

        norm_t      = ||g||_2                                 (float32)
        mean_t      = mean_{t-1} + (norm_t - mean_{t-1}) / t  (running mean over all steps)
        max_t       = max(max_{t-1}, norm_t)
        vanishing_t = norm_t < max(vanishing_threshold, vanishing_ratio * max_leaf norm_t)
        exploding_t = norm_t > exploding_threshold  or  norm_t not finite

    ``max_leaf norm_t`` is the largest leaf norm of the same step, so a leaf is
    vanishing when its gradient is ``vanishing_ratio`` (default 1e-3: three orders
    of magnitude) below the most active leaf's, or absolutely tiny. Put it first in
    a chain to see raw gradients (``optax.chain(monitor_gradients(), optzoo.adam(1e-3))``)
    and read it with :func:`gradient_report`. Statistics are float32 whatever the
    params' dtype (float64 under x64). Cost: one reduction per leaf.

    Args:
      vanishing_ratio: relative threshold, in [0, 1].
      vanishing_threshold: absolute threshold, >= 0.
      exploding_threshold: absolute threshold, > 0.
    """
    fn = v.owner("monitor_gradients")
    v.check_range(fn, "vanishing_ratio", vanishing_ratio, 0.0, 1.0)
    v.check_nonnegative(fn, "vanishing_threshold", vanishing_threshold)
    v.check_positive(fn, "exploding_threshold", exploding_threshold)

    def _dt():
        return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        zero = jax.tree.map(lambda p: jnp.zeros([], _dt()), params)
        false = jax.tree.map(lambda p: jnp.zeros([], bool), params)
        return MonitorState(jnp.zeros([], jnp.int32), zero, zero, zero, false, false)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.norm)
        count = optax.safe_increment(state.count)
        norm = jax.tree.map(lambda g, n: jnp.sqrt(jnp.sum(jnp.square(jnp.abs(g).astype(n.dtype)))),
                            updates, state.norm)
        leaves = jax.tree.leaves(norm)
        top = jnp.max(jnp.stack(leaves)) if leaves else jnp.zeros([], _dt())
        cut = jnp.maximum(vanishing_threshold, vanishing_ratio * top)
        t = count.astype(_dt())
        mean = jax.tree.map(lambda m, n: m + (n - m) / t, state.mean, norm)
        mx = jax.tree.map(jnp.maximum, state.max, norm)
        vanishing = jax.tree.map(lambda n: n < cut, norm)
        exploding = jax.tree.map(lambda n: (n > exploding_threshold) | ~jnp.isfinite(n), norm)
        return updates, MonitorState(count, norm, mean, mx, vanishing, exploding)

    return optax.GradientTransformation(init_fn, update_fn)


def find_monitor_state(state: Any) -> MonitorState:
    """The first :class:`MonitorState` inside an optimizer state (chains, wrappers)."""
    found = []

    def visit(x):
        if isinstance(x, MonitorState):
            found.append(x)
            return None
        return x

    if isinstance(state, MonitorState):
        return state
    jax.tree.map(visit, state, is_leaf=lambda x: isinstance(x, MonitorState))
    if not found:
        raise ValueError(
            "gradient_report: no monitor_gradients state found in the optimizer state: "
            "chain optzoo.monitor_gradients() into the optimizer and pass its state"
        )
    return found[0]


def gradient_report(state: Any, digits: int = 3) -> str:
    """A plain-text table of a :func:`monitor_gradients` state, one row per leaf.

    ``state`` is the monitor's own state or any optimizer state containing it.
    Columns: leaf path, latest norm, running mean, running max, flags
    (``VANISHING`` / ``EXPLODING``). The last line counts the flagged leaves.
    """
    st = find_monitor_state(state)
    paths = jax.tree_util.tree_flatten_with_path(st.norm)[0]
    names = [jax.tree_util.keystr(p) or "(root)" for p, _ in paths]
    cols = [jax.tree.leaves(x) for x in (st.norm, st.mean, st.max, st.vanishing, st.exploding)]
    rows = []
    for name, n, m, mx, van, exp in zip(names, *cols):
        flags = " ".join(f for f, on in (("VANISHING", van), ("EXPLODING", exp)) if bool(on))
        rows.append((name, f"{float(n):.{digits}e}", f"{float(m):.{digits}e}",
                     f"{float(mx):.{digits}e}", flags or "-"))
    head = ("leaf", "norm", "mean", "max", "flags")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    rule = line(["-" * w for w in widths])
    out = [f"gradient report after {int(st.count)} steps", line(head), rule]
    out += [line(r) for r in rows]
    n_v = int(np.sum([bool(x) for x in cols[3]]))
    n_e = int(np.sum([bool(x) for x in cols[4]]))
    out.append(f"{n_v} vanishing, {n_e} exploding of {len(rows)} leaves")
    return "\n".join(out)
