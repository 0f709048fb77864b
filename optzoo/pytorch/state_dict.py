"""Optimizer state between ``torch.optim`` and :mod:`optzoo.pytorch`, both ways.

::

    state = from_torch_state(tx, optimizer.state_dict(), params, order)
    sd = to_torch_state(tx, state, params, order)        # optimizer.load_state_dict(sd)

``tx`` is the flavor built with the torch optimizer's arguments (``groups=[...]``
for torch's param groups, group ``i`` to torch's ``param_groups[i]``). ``order``
lists the params' leaf paths (``"encoder/dense/kernel"``, the spelling of param
groups) in torch's parameter order, the order of ``state_dict()["state"]``'s
indices; ``None`` means ``jax.tree.leaves`` order. For a torch module,
``[name.replace(".", "/") for name, _ in model.named_parameters()]``.

The state of a flavor is the chain of its blocks' NamedTuples; :data:`FIELDS` maps
each block field to torch's per-parameter key. Three kinds of values:

- a per-parameter array (``"exp_avg"``), reshaped where the block stores another
  shape (Adafactor's ``row_var`` ``(..., R, 1)`` is ``v_row`` ``(..., R)``);
- :data:`COUNT`, the group's number of updates: torch's per-parameter ``"step"``
  (equal over the group's params, else refused), or, for ``SGD`` and ``Muon``, which
  keep no step, ``scheduler_state["last_epoch"]``; without either, ``1`` once the
  momentum buffer exists (``SGD``'s and ``Muon``'s updates read the count only to
  tell the first step from the others, and ``SGD`` only with a schedule needs more:
  then ``scheduler_state`` is required). Every schedule of the flavor is evaluated
  at this count (``optax.scale_by_learning_rate``'s ``count``);
- ``"=key"``: one number per group that torch repeats per parameter (NAdam's
  ``mu_product``).

``ASGD``'s ``eta`` and ``mu`` are derived from the count and the hyperparameters
(torch keeps the values for the next step, the block the ones it used).
``LBFGS`` has its own mapping (:func:`_lbfgs_from_torch`): torch's history lists
become the block's fixed-size buffers, flat vectors are permuted from torch's
parameter order to ``ravel_pytree``'s.

Schedulers: with ``scheduler_state=scheduler.state_dict()``, ``from_torch_state``
checks that its ``last_epoch`` (the number of ``scheduler.step()`` calls, stepped
once per optimizer step) equals the optimizer's step count and uses it where torch
keeps none; ``to_torch_state(..., scheduler_state=fresh_scheduler.state_dict())``
returns ``(optimizer_state_dict, scheduler_state_dict)``, the latter with
``last_epoch = count``, ``_step_count = count + 1`` and ``_last_lr`` the groups'
learning rates at ``count``. A scheduler stepped once per epoch is written
``lr=lambda count: sched(count // n)``; pass no ``scheduler_state`` then.

Refused with a one-line ``ValueError``: a state_dict of another class, a group
hyperparameter that differs from what ``tx`` was built with (``lr`` included: a
number baked into ``tx`` cannot follow a torch scheduler's changes), params in
other groups or of other shapes, unequal step counts within a group, an unknown or
missing path in ``order``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax.transforms import MaskedState, PartitionState

from optzoo import _validate as v
from optzoo.pytorch import optim as _optim
from optzoo.pytorch.lbfgs import LBFGS, LBFGSState
from optzoo.transforms._tree import instances, leaf_path, value_at
from optzoo.transforms.adam import AdamState, NadamState
from optzoo.transforms.adaptive import AdadeltaState, RmsState, RssState
from optzoo.transforms.averaging import AsgdState
from optzoo.transforms.factored import AdafactorState
from optzoo.transforms.groups import _check_groups, _group_lr, _labeller
from optzoo.transforms.momentum import TraceState
from optzoo.transforms.orthogonal import MuonState
from optzoo.transforms.sign import RpropState

__all__ = ["FIELDS", "COUNT", "from_torch_state", "to_torch_state"]

COUNT = "#count"  # the group's number of updates (torch's "step")
_SCHEDULE = {optax.ScaleByScheduleState: {"count": COUNT}}
_ADAM = {AdamState: {"count": COUNT, "mu": "exp_avg", "nu": "exp_avg_sq",
                     "nu_max": "max_exp_avg_sq"}}

# Per torch class: block state type -> {block field: torch per-parameter key}.
FIELDS: dict[str, dict[type, dict[str, str]]] = {
    "SGD": {TraceState: {"count": COUNT, "trace": "momentum_buffer"}},
    "Adam": _ADAM,
    "AdamW": _ADAM,
    "Adamax": {AdamState: {"count": COUNT, "mu": "exp_avg", "nu": "exp_inf"}},
    "NAdam": {NadamState: {"count": COUNT, "mu": "exp_avg", "nu": "exp_avg_sq",
                           "mu_product": "=mu_product"}},
    "RAdam": _ADAM,
    "RMSprop": {RmsState: {"nu": "square_avg", "mu": "grad_avg"},
                TraceState: {"count": COUNT, "trace": "momentum_buffer"}},
    "Adagrad": {RssState: {"sum_of_squares": "sum"}},
    "Adadelta": {AdadeltaState: {"e_g2": "square_avg", "e_dx2": "acc_delta"}},
    "Rprop": {RpropState: {"count": COUNT, "step_size": "step_size", "prev": "prev"}},
    "ASGD": {AsgdState: {"count": COUNT, "ax": "ax"}},  # eta, mu: _asgd_scalars
    "Adafactor": {AdafactorState: {"count": COUNT, "v_row": "row_var", "v_col": "col_var",
                                   "v": "variance"}},
    "SparseAdam": {AdamState: {"count": COUNT, "mu": "exp_avg", "nu": "exp_avg_sq"}},
    "Muon": {MuonState: {"count": COUNT, "mu": "momentum_buffer"}},
}
_NO_STEP = ("SGD", "Muon")  # torch keeps no step count for these
_EAGER = ("Adagrad",)  # torch fills their state at construction, not at the first step
_KERNEL = {"foreach", "fused", "capturable", "differentiable"}
_SCHEDULER_KEYS = {"initial_lr", "max_lr", "min_lr", "base_momentum", "max_momentum", "swa_lr"}
_FLAVOR_ONLY = {"ns_dtype", "groups"}  # optzoo's extensions, no torch group key
_LBFGS_KEYS = {"func_evals", "n_iter", "al", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
               "prev_flat_grad", "prev_loss"}


def _err(fn: str, message: str) -> ValueError:
    return ValueError(f"{fn}: {message}")


def _array(x: Any) -> np.ndarray:
    """A copy of a torch tensor, number or array as a numpy array (a copy: JAX may
    alias a numpy buffer that torch later updates in place; no torch import)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.double() if str(x.dtype) == "torch.bfloat16" else x
        x = x.numpy()
    return np.array(x)


# ----------------------------------------------------------------- what tx is


def _built(fn: str, tx) -> tuple[str, dict]:
    """``(torch class name, the flavor's arguments)`` of ``tx``; refused unless ``tx``
    is what an :mod:`optzoo.pytorch` optimizer returned (a Keras flavor of the same
    name takes other arguments)."""
    built = v.built_with(tx)
    make = None if built is None else (
        LBFGS if built[0] == "LBFGS" else getattr(_optim, built[0], None))
    if make is None or built[0] not in {*FIELDS, "LBFGS"} or \
            set(built[1]) - set(inspect.signature(make).parameters):
        got = "a transformation of no optzoo.pytorch optimizer" if make is None else \
            f"{built[0]} with arguments {', '.join(built[1])}"
        raise _err(fn, f"tx must be an optzoo.pytorch optimizer as its constructor returned it "
                       f"(not wrapped), got {got}")
    return built


def _paths(fn: str, params, order) -> tuple[list[str], list[str], dict[str, Any]]:
    """``(jax paths, torch order of paths, leaf by path)`` after checking ``order``."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    paths = [leaf_path(p) for p, _ in flat]
    leaves = {leaf_path(p): x for p, x in flat}
    if order is None:
        return paths, paths, leaves
    order = list(order)
    for p in order:
        if p not in leaves:
            shown = ", ".join(paths[:6]) + (", ..." if len(paths) > 6 else "")
            raise _err(fn, f"order lists {p!r}, which is not a param path (paths: {shown})")
    if len(order) != len(paths) or len(set(order)) != len(order):
        missing = sorted(set(paths) - set(order))
        what = f"misses {missing[0]!r}" if missing else "lists a path twice"
        raise _err(fn, f"order has {len(order)} paths for {len(paths)} params and {what}")
    return paths, order, leaves


def _group_args(name: str, args: dict) -> list[dict]:
    """The flavor's arguments per group (the shared ones with each group's overrides;
    ``lr`` as the group's effective number or schedule), ``"params"`` kept."""
    groups = args.get("groups")
    shared = {k: x for k, x in args.items() if k != "groups"}
    if name == "AdamW":  # torch's AdamW is Adam with this group key fixed
        shared["decoupled_weight_decay"] = True
    if not groups:
        return [dict(shared, params=None)]
    out = []
    for i, g in enumerate(groups):
        a = {**shared, **g}
        if "lr" in g and "lr" in shared:
            a["lr"] = _group_lr(name, i, "lr", shared["lr"], g["lr"])
        out.append(a)
    return out


def _labels(name: str, args: dict, params, paths: list[str]) -> list[int]:
    """The group of each leaf, in jax order."""
    groups = args.get("groups")
    if not groups:
        return [0] * len(paths)
    allowed = [n for n in args if n != "groups"]
    labels = _labeller(name, _check_groups(name, groups, allowed))(params)
    return [int(x) for x in jax.tree.leaves(labels)]


def _group_chains(state) -> list:
    if isinstance(state, PartitionState):
        return [state.inner_states[k].inner_state for k in sorted(state.inner_states, key=int)]
    return [state]


def _with_group_chains(state, chains: list):
    if isinstance(state, PartitionState):
        keys = sorted(state.inner_states, key=int)
        return state._replace(inner_states={
            k: MaskedState(inner_state=c) for k, c in zip(keys, chains)})
    return chains[0]


# ----------------------------------------------------------------- hyperparameters


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or \
            isinstance(a, str) or isinstance(b, str):
        return a == b
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    except (TypeError, ValueError):
        return a == b


def _check_group(fn: str, name: str, i: int, torch_group: Mapping, ours: dict, count: int):
    """Refuse a torch group hyperparameter that differs from ``tx``'s."""
    for key, theirs in torch_group.items():
        if key == "params" or key in _KERNEL or key in _SCHEDULER_KEYS:
            continue
        if key not in ours:
            raise _err(fn, f"param_groups[{i}] has {key!r}, which torch.optim.{name} does not "
                           f"have (a state_dict of another optimizer class?)")
        mine = ours[key]
        if key == "max_eval" and mine is None:  # LBFGS resolves it at construction
            mine = ours["max_iter"] * 5 // 4
        if callable(mine):
            if key != "lr":
                continue
            mine = float(value_at(mine, jnp.asarray(count)))
            if math.isclose(float(theirs), mine, rel_tol=1e-9, abs_tol=1e-300):
                continue
            raise _err(fn, f"param_groups[{i}] has lr={theirs!r}, but tx's lr schedule gives "
                           f"{mine!r} at step {count}")
        if not _same(theirs, mine):
            raise _err(fn, f"param_groups[{i}] has {key}={theirs!r}, but tx was built with "
                           f"{key}={mine!r}")


def _torch_group(name: str, ours: dict, indices: list[int], lr_now) -> dict:
    """A torch param group for the flavor's group arguments ``ours``."""
    group = {k: x for k, x in ours.items() if k not in _FLAVOR_ONLY and k != "params"}
    if name == "LBFGS" and group.get("max_eval") is None:
        group["max_eval"] = group["max_iter"] * 5 // 4
    if "lr" in group:
        group["lr"] = lr_now
    group["params"] = list(indices)
    return group


# ----------------------------------------------------------------- counts


def _torch_shape(key: str, shape: tuple) -> tuple:
    if key == "row_var":
        return shape[:-1] + (1,)
    if key == "col_var":
        return shape[:-2] + (1,) + shape[-1:]
    return shape


def _group_count(fn, name, i, entries, paths_in_group, scheduler_state, scheduled) -> int:
    """The group's number of updates from torch's steps or the scheduler."""
    last = None if scheduler_state is None else int(scheduler_state["last_epoch"])
    if name in _NO_STEP:
        if last is not None:
            return last
        started = int(any(entries.get(p) for p in paths_in_group))
        if started and scheduled:
            raise _err(fn, f"torch.optim.{name} keeps no step count and tx's lr is a schedule: "
                           "pass scheduler_state=scheduler.state_dict()")
        return started
    steps = {p: int(_array(entries[p]["step"])) if entries.get(p) else 0
             for p in paths_in_group}
    if len(set(steps.values())) > 1:
        (a, sa), *_, (b, sb) = sorted(steps.items(), key=lambda kv: kv[1])
        raise _err(fn, f"param_groups[{i}] has params at different steps ({a!r}: {sa}, "
                       f"{b!r}: {sb}); optzoo keeps one count per group")
    count = next(iter(steps.values()), 0)
    if last is not None and last != count:
        raise _err(fn, f"scheduler_state has last_epoch={last} but the optimizer's step is "
                       f"{count}; pass scheduler_state only for a scheduler stepped once per "
                       "optimizer step")
    return count


def _asgd_scalars(ours: dict, count: int, state: AsgdState, next_step: bool):
    """ASGD's ``(eta, mu)``: the ones used at step ``count`` (the block's), or with
    ``next_step`` the ones for step ``count + 1`` (torch's)."""
    t = count if next_step else count - 1
    if not next_step and count == 0:
        return state.eta, state.mu
    lr = float(value_at(ours["lr"], jnp.asarray(t)))
    eta = lr / (1.0 + ours["lambd"] * lr * t) ** ours["alpha"]
    mu = 1.0 / max(1.0, t - ours["t0"])
    return jnp.asarray(eta, state.eta.dtype), jnp.asarray(mu, state.mu.dtype)


# ----------------------------------------------------------------- per-param entries


def _leaf_values(tree) -> dict[str, Any]:
    """The real leaves of a block field (``MaskedNode`` of other groups left out) by path."""
    flat = jax.tree_util.tree_flatten_with_path(
        tree, is_leaf=lambda x: isinstance(x, optax.MaskedNode))[0]
    return {leaf_path(p): x for p, x in flat if not isinstance(x, optax.MaskedNode)}


def _placeholder(leaf, param) -> bool:
    """A ``()`` stand-in for a leaf the block keeps no such state for (Adafactor's
    ``v`` of a matrix, Muon's ``nu``)."""
    return jnp.ndim(leaf) == 0 and jnp.ndim(param) > 0


def _leaves_from_torch(fn, tree, key, entries, count, leaves):
    def one(path, leaf):
        if isinstance(leaf, optax.MaskedNode):
            return leaf
        p = leaf_path(path)
        param = leaves[p]
        if _placeholder(leaf, param):
            return leaf
        value = (entries.get(p) or {}).get(key)
        if value is None:
            if count == 0:
                return leaf
            raise _err(fn, f"the state of param {p!r} has no {key!r} after {count} steps")
        value = _array(value)
        want = _torch_shape(key, tuple(np.shape(param)))
        if value.shape != want:
            raise _err(fn, f"the state of param {p!r} has {key!r} of shape {value.shape}, "
                           f"expected {want} for a param of shape {tuple(np.shape(param))}")
        if jnp.iscomplexobj(param):  # torch keeps it complex, optzoo as real pairs
            value = np.stack([value.real, value.imag], axis=-1)
        return jnp.asarray(value.reshape(np.shape(leaf)), jnp.asarray(leaf).dtype)

    return jax.tree_util.tree_map_with_path(
        one, tree, is_leaf=lambda x: isinstance(x, optax.MaskedNode))


def _scalar_from_torch(fn, key, entries, group_paths, current):
    values = {float(_array(entries[p][key])) for p in group_paths if entries.get(p)}
    if len(values) > 1:
        raise _err(fn, f"params of one group have different {key!r} ({sorted(values)}); "
                       "optzoo keeps one per group")
    return jnp.asarray(values.pop(), current.dtype) if values else current


def _chain_from_torch(fn, name, chain, entries, group_paths, count, ours, leaves):
    table = {**FIELDS[name], **_SCHEDULE}

    def convert(node):
        new = {}
        for field, key in table[type(node)].items():
            current = getattr(node, field)
            if current is None:
                continue
            if key == COUNT:
                new[field] = jnp.asarray(count, current.dtype)
            elif key.startswith("="):
                new[field] = _scalar_from_torch(fn, key[1:], entries, group_paths, current)
            else:
                new[field] = _leaves_from_torch(fn, current, key, entries, count, leaves)
        node = node._replace(**new)
        if isinstance(node, AsgdState):
            eta, mu = _asgd_scalars(ours, count, node, next_step=False)
            node = node._replace(eta=eta, mu=mu)
        return node

    return jax.tree.map(lambda x: convert(x) if type(x) in table else x, chain,
                        is_leaf=lambda x: type(x) in table)


def _counts(name, chain) -> list[int]:
    table = {**FIELDS[name], **_SCHEDULE}
    return [int(getattr(node, f)) for cls, fields in table.items()
            for node in instances(chain, cls) for f, k in fields.items() if k == COUNT]


def _torch_tensor(x, shape=None):
    import torch

    x = np.array(x)
    return torch.from_numpy(x.reshape(shape) if shape is not None else x)


def _chain_to_torch(name, chain, group_paths, count, ours, leaves, step_dtype) -> dict:
    """torch's per-param state of one group, ``{path: {key: tensor}}``."""
    import torch

    out = {p: {} if name in _NO_STEP else {"step": torch.tensor(float(count), dtype=step_dtype)}
           for p in group_paths}
    for cls, fields in {**FIELDS[name], **_SCHEDULE}.items():
        for node in instances(chain, cls):
            for field, key in fields.items():
                current = getattr(node, field)
                if current is None or key == COUNT:
                    continue
                if key.startswith("="):
                    for p in group_paths:
                        out[p][key[1:]] = _torch_tensor(current)
                    continue
                for p, leaf in _leaf_values(current).items():
                    param = leaves[p]
                    if _placeholder(leaf, param):
                        continue
                    if jnp.iscomplexobj(param):  # real pairs -> torch's complex
                        leaf = np.asarray(leaf)
                        leaf = (leaf[..., 0] + 1j * leaf[..., 1]).astype(jnp.asarray(param).dtype)
                    out[p][key] = _torch_tensor(leaf, _torch_shape(key, np.shape(param)))
            if isinstance(node, AsgdState):
                eta, mu = _asgd_scalars(ours, count, node, next_step=True)
                for p in group_paths:
                    out[p].update(eta=_torch_tensor(eta), mu=_torch_tensor(mu))
    return out


# ----------------------------------------------------------------- LBFGS


def _flat_order(order: list[str], paths: list[str], leaves: dict) -> np.ndarray:
    """Index array taking torch's flat vector (params in ``order``, each flattened)
    to ``ravel_pytree``'s (params in jax order)."""
    sizes = {p: int(np.size(leaves[p])) for p in paths}
    start, offset = {}, 0
    for p in order:
        start[p], offset = offset, offset + sizes[p]
    return np.concatenate([np.arange(start[p], start[p] + sizes[p]) for p in paths]) \
        if paths else np.zeros(0, int)


def _lbfgs_from_torch(fn, state: LBFGSState, entry: Mapping, perm: np.ndarray) -> LBFGSState:
    """torch's ``state[params[0]]`` of ``LBFGS`` as :class:`LBFGSState`."""
    if not entry:
        return state
    n, m = state.d.shape[0], state.old_dirs.shape[0]
    dt = state.d.dtype

    def flat(x, what):
        x = _array(x).reshape(-1)
        if x.shape[0] != n:
            raise _err(fn, f"LBFGS state {what!r} has {x.shape[0]} entries, the params {n}")
        return jnp.asarray(x[perm], dt)

    history = len(entry["old_dirs"])
    if history > m:
        raise _err(fn, f"LBFGS state holds {history} pairs, more than history_size={m}")
    dirs, stps, ro = state.old_dirs, state.old_stps, state.ro
    for k in range(history):
        dirs = dirs.at[k].set(flat(entry["old_dirs"][k], "old_dirs"))
        stps = stps.at[k].set(flat(entry["old_stps"][k], "old_stps"))
        ro = ro.at[k].set(float(_array(entry["ro"][k])))
    return LBFGSState(
        func_evals=jnp.asarray(int(entry["func_evals"]), jnp.int32),
        n_iter=jnp.asarray(int(entry["n_iter"]), jnp.int32),
        d=flat(entry["d"], "d"), t=jnp.asarray(float(_array(entry["t"])), dt),
        old_dirs=dirs, old_stps=stps, ro=ro, num_old=jnp.asarray(history, jnp.int32),
        H_diag=jnp.asarray(float(_array(entry["H_diag"])), dt),
        prev_flat_grad=flat(entry["prev_flat_grad"], "prev_flat_grad"),
        prev_loss=jnp.asarray(float(_array(entry["prev_loss"])), dt),
    )


def _lbfgs_to_torch(state: LBFGSState, perm: np.ndarray) -> dict:
    if int(state.n_iter) == 0:
        return {}
    back = np.argsort(perm)  # ravel_pytree's order -> torch's

    def flat(x):
        return _torch_tensor(np.asarray(x)[back])

    k = int(state.num_old)
    return {
        "func_evals": int(state.func_evals), "n_iter": int(state.n_iter),
        "d": flat(state.d), "t": float(state.t),
        "old_dirs": [flat(state.old_dirs[i]) for i in range(k)],
        "old_stps": [flat(state.old_stps[i]) for i in range(k)],
        "ro": [_torch_tensor(state.ro[i]) for i in range(k)],
        "H_diag": _torch_tensor(state.H_diag),
        "prev_flat_grad": flat(state.prev_flat_grad), "prev_loss": float(state.prev_loss),
    }


# ----------------------------------------------------------------- the two directions


def _read(fn: str, name: str, state_dict, order: list[str]) -> tuple[list, dict]:
    """torch's ``param_groups`` and its per-param state keyed by path, checked."""
    if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
        raise _err(fn, "state_dict must be a torch optimizer's state_dict() (a dict with "
                       f"'state' and 'param_groups'), got {type(state_dict).__name__}")
    groups = list(state_dict["param_groups"])
    count = sum(len(g["params"]) for g in groups)
    if count != len(order):
        raise _err(fn, f"the state_dict has {count} params, params has {len(order)} leaves")
    if name == "LBFGS":
        allowed = _LBFGS_KEYS
    else:
        allowed = {k.lstrip("=") for f in FIELDS[name].values() for k in f.values() if k != COUNT}
        allowed |= (set() if name in _NO_STEP else {"step"}) | (
            {"eta", "mu"} if name == "ASGD" else set())
    entries = {}
    for idx, entry in state_dict["state"].items():
        if not 0 <= int(idx) < count:
            raise _err(fn, f"the state_dict has state for param {idx}, of {count} params")
        extra = sorted(set(entry) - allowed)
        if extra:
            raise _err(fn, f"the state of param {idx} has {extra[0]!r}, which torch.optim.{name} "
                           "does not keep (a state_dict of another optimizer class?)")
        entries[order[int(idx)]] = entry
    return groups, entries


def from_torch_state(tx, state_dict, params, order: Sequence[str] | None = None, *,
                     scheduler_state: Mapping | None = None):
    """The optax state of the :mod:`optzoo.pytorch` optimizer ``tx`` holding what the
    torch optimizer's ``state_dict()`` holds: ``tx.init(params)`` with torch's step
    counts, moments and buffers (see the module docstring for the mapping).

    ``order``: the params' leaf paths in torch's parameter order (default
    ``jax.tree.leaves`` order). ``scheduler_state``: the torch scheduler's
    ``state_dict()``, stepped once per optimizer step; its ``last_epoch`` is the count
    the flavor's schedule is evaluated at. Raises ``ValueError`` on a state_dict of
    another class, on group hyperparameters that differ from ``tx``'s, and on params
    that do not match."""
    fn = "from_torch_state"
    name, args = _built(fn, tx)
    paths, order, leaves = _paths(fn, params, order)
    torch_groups, entries = _read(fn, name, state_dict, order)
    ours = _group_args(name, args)
    if len(torch_groups) != len(ours):
        raise _err(fn, f"the state_dict has {len(torch_groups)} param groups, tx has {len(ours)}")
    labels = dict(zip(paths, _labels(name, args, params, paths)))
    state = tx.init(params)
    if name == "LBFGS":
        _check_group(fn, name, 0, torch_groups[0], ours[0], 0)
        entry = state_dict["state"].get(0) or state_dict["state"].get("0") or {}
        return _lbfgs_from_torch(fn, state, entry, _flat_order(order, paths, leaves))
    chains = _group_chains(state)
    for i, (tg, chain) in enumerate(zip(torch_groups, chains)):
        group_paths = [order[int(k)] for k in tg["params"]]
        wrong = [p for p in group_paths if labels[p] != i]
        if wrong:
            raise _err(fn, f"param_groups[{i}] holds {wrong[0]!r}, which tx puts in group "
                           f"{labels[wrong[0]]}")
        scheduled = bool(instances(chain, optax.ScaleByScheduleState))
        count = _group_count(fn, name, i, entries, group_paths, scheduler_state, scheduled)
        _check_group(fn, name, i, tg, ours[i], count)
        chains[i] = _chain_from_torch(fn, name, chain, entries, group_paths, count, ours[i],
                                      leaves)
    return _with_group_chains(state, chains)


def to_torch_state(tx, state, params, order: Sequence[str] | None = None, *,
                   step: int | None = None, like: Mapping | None = None,
                   scheduler_state: Mapping | None = None):
    """A ``state_dict`` that ``torch.optim.<X>.load_state_dict`` accepts, holding the
    optax ``state`` of the :mod:`optzoo.pytorch` optimizer ``tx`` (the inverse of
    :func:`from_torch_state`; torch tensors, so torch is imported here).

    ``order``: as in :func:`from_torch_state`. ``step``: the step count to write where
    the flavor keeps none (``Adadelta``, and ``Adagrad`` without ``lr_decay``, when
    ``lr`` is a number); refused when it differs from a count the state keeps. ``like``: the fresh torch
    optimizer's ``state_dict()``; its groups' extra keys (``initial_lr``, ``max_lr``,
    ... that a scheduler wrote) are kept. ``scheduler_state``: the fresh torch
    scheduler's ``state_dict()``; then ``(optimizer_state_dict,
    scheduler_state_dict)`` is returned, the scheduler at the flavor's count."""
    fn = "to_torch_state"
    import torch

    name, args = _built(fn, tx)
    paths, order, leaves = _paths(fn, params, order)
    ours = _group_args(name, args)
    index = {p: k for k, p in enumerate(order)}
    step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    if name == "LBFGS":
        states = instances(state, LBFGSState)
        if len(states) != 1:
            raise _err(fn, f"state must hold one LBFGSState, found {len(states)}")
        entry = _lbfgs_to_torch(states[0], _flat_order(order, paths, leaves))
        out = {"state": {0: entry} if entry else {},
               "param_groups": [_torch_group(name, ours[0], range(len(order)), args["lr"])]}
        return _with_scheduler(fn, out, scheduler_state, int(states[0].n_iter), [args["lr"]])
    labels = _labels(name, args, params, paths)
    chains = _group_chains(state)
    torch_state, groups, lrs, counts = {}, [], [], []
    for i, chain in enumerate(chains):
        group_paths = sorted((p for p, g in zip(paths, labels) if g == i), key=index.get)
        known = sorted(set(_counts(name, chain)))
        if len(known) > 1 or (known and step is not None and step != known[0]):
            raise _err(fn, f"group {i} keeps step counts {known}"
                           + (f", not step={step}" if step is not None else ""))
        if not known and step is None and name not in _NO_STEP:
            raise _err(fn, f"tx ({name}) keeps no step count here; pass step=<number of steps "
                           "taken> for torch's 'step'")
        count = known[0] if known else (step or 0)
        if count or name in _EAGER:
            per_param = _chain_to_torch(name, chain, group_paths, count, ours[i], leaves,
                                        step_dtype)
            torch_state.update({index[p]: e for p, e in per_param.items() if e})
        lr = ours[i].get("lr")
        lr_now = float(value_at(lr, jnp.asarray(count))) if callable(lr) else lr
        group = _torch_group(name, ours[i], [index[p] for p in group_paths], lr_now)
        if like is not None:
            group = {**like["param_groups"][i], **group}
        groups.append(group)
        lrs.append(lr_now)
        counts.append(count)
    out = {"state": dict(sorted(torch_state.items())), "param_groups": groups}
    return _with_scheduler(fn, out, scheduler_state, counts[0] if counts else 0, lrs)


def _with_scheduler(fn, out: dict, scheduler_state, count: int, lrs: list):
    if scheduler_state is None:
        return out
    if not isinstance(scheduler_state, Mapping) or "last_epoch" not in scheduler_state:
        raise _err(fn, "scheduler_state must be a torch scheduler's state_dict() (with "
                       "'last_epoch')")
    sched = dict(scheduler_state, last_epoch=count, _step_count=count + 1,
                 _last_lr=[float(x) for x in lrs])
    return out, sched
