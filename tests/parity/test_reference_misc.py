"""AdaBelief, CAME, Adam-atan2, the Lookahead and cautious wrappers and the WSD
schedule against the implementations their authors publish, step by step.

References (pinned in the ``test`` extra): ``adabelief_pytorch.AdaBelief`` 0.2.1,
``came_pytorch.CAME`` 0.1.3, ``adam_atan2_pytorch.AdamAtan2`` 0.4.1,
``pytorch_optimizer`` 4.1.0 (``Lookahead``, ``cautious=True``, ``get_wsd_schedule``).
Each optimizer configuration trains the harness's MLP (two matrices, two vectors)
for 100 steps in float64 on both sides and records its worst relative error;
every constructor flag of a reference is covered by some configuration.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo
from tests.helpers import x64
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    STEPS,
    TOL,
    config_label,
    fast_jit,
    leaf_rel_err,
    run_against,
    torch_float64,
)

pytestmark = pytest.mark.usefixtures("torch_float64")


def _ours(kw: dict, n: int = 2, rename: dict | None = None) -> dict:
    """optzoo's keywords for the reference's: ``lr`` -> ``learning_rate``,
    ``betas`` -> ``b1, b2[, b3]``, and any ``rename``."""
    kw = dict(kw)
    if "lr" in kw:
        kw["learning_rate"] = kw.pop("lr")
    if "betas" in kw:
        kw.update(zip(("b1", "b2", "b3")[:n], kw.pop("betas")))
    for old, new in (rename or {}).items():
        if old in kw:
            kw[new] = kw.pop(old)
    return kw


def _check(record_parity, name, ref_kwargs, err):
    record_parity("reference", name, config_label(ref_kwargs), err, STEPS)
    assert err <= TOL, (name, ref_kwargs, err)


# --- AdaBelief ----------------------------------------------------------------------

ADABELIEF = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-12, weight_decay=0.05),
    dict(lr=0.01, eps=1e-10, weight_decay=0.05, weight_decouple=False),
    dict(lr=0.01, weight_decay=0.01, fixed_decay=True),
    dict(lr=0.01, betas=(0.9, 0.99), amsgrad=True),
    dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, rectify=False),
    dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, rectify=False, amsgrad=True, weight_decay=0.02),
    dict(lr=0.01, betas=(0.9, 0.99), degenerated_to_sgd=False, weight_decay=0.02),
]


@pytest.mark.parametrize("kw", ADABELIEF, ids=config_label)
def test_adabelief(kw, record_parity, capsys):
    from adabelief_pytorch import AdaBelief

    err = run_against(lambda ps: AdaBelief(ps, print_change_log=False, **kw),
                      lambda: optzoo.adabelief(**_ours(kw)))
    capsys.readouterr()  # the reference prints the options it enabled
    _check(record_parity, "adabelief_pytorch.AdaBelief", kw, err)


def test_adabelief_unrectified_is_optax():
    """``optax.adabelief`` (eps_root in the state, eps outside the root) is
    ``rectify=False``: both keep eps in the second moment."""
    x = np.random.default_rng(1).normal(size=(7, 3))
    with x64():
        params = {"w": jnp.asarray(x)}
        ours, ref = optzoo.adabelief(0.01, eps=1e-9, rectify=False), optax.adabelief(
            0.01, eps=1e-9, eps_root=1e-9)
        so, sr = ours.init(params), ref.init(params)
        update_ours, update_ref = fast_jit(ours.update), fast_jit(ref.update)
        for i in range(30):
            g = {"w": jnp.sin(params["w"] * (i + 1))}
            uo, so = update_ours(g, so, params)
            ur, sr = update_ref(g, sr, params)
            np.testing.assert_allclose(uo["w"], ur["w"], rtol=1e-12)


# --- WSD schedule ---------------------------------------------------------------------

WSD = [
    dict(num_warmup_steps=50, num_stable_steps=120, num_decay_steps=80),
    dict(num_warmup_steps=50, num_stable_steps=120, num_decay_steps=80, min_lr_ratio=0.1),
    dict(num_warmup_steps=30, num_stable_steps=100, num_decay_steps=97, min_lr_ratio=0.05,
         cooldown_type="cosine"),
    dict(num_warmup_steps=30, num_stable_steps=100, num_decay_steps=97, min_lr_ratio=0.05,
         cooldown_type="cosine", num_cycles=1.25),
    dict(num_warmup_steps=30, num_stable_steps=100, num_decay_steps=97, cooldown_type="linear"),
    dict(num_warmup_steps=30, num_stable_steps=100, num_decay_steps=97, min_lr_ratio=0.2,
         cooldown_type="linear"),
    dict(num_warmup_steps=0, num_stable_steps=60, num_decay_steps=150, min_lr_ratio=0.1,
         cooldown_type="1-square"),
    dict(num_warmup_steps=1, num_stable_steps=0, num_decay_steps=200),
    dict(num_warmup_steps=40, num_stable_steps=200, num_decay_steps=0, min_lr_ratio=0.3),
]
PEAK = 0.03


@pytest.mark.parametrize("kw", WSD, ids=config_label)
def test_wsd(kw, record_parity):
    from pytorch_optimizer import get_wsd_schedule

    w, s, d = kw["num_warmup_steps"], kw["num_stable_steps"], kw["num_decay_steps"]
    steps = w + s + d + 20
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=PEAK)
    sched = get_wsd_schedule(opt, **kw)
    expected = [sched.get_last_lr()[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
        for _ in range(steps):
            opt.step()
            sched.step()
            expected.append(sched.get_last_lr()[0])
    ours = optzoo.schedules.wsd(
        PEAK, w, s, d, **{k: v for k, v in kw.items() if not k.startswith("num_") or
                          k == "num_cycles"})
    with x64():
        got = np.asarray(fast_jit(jax.vmap(ours))(jnp.arange(steps + 1)))
    expected = np.asarray(expected)
    err = float(np.max(np.abs(got - expected)) / PEAK)
    record_parity("reference", "pytorch_optimizer.get_wsd_schedule", config_label(kw), err,
                  steps + 1)
    assert got.dtype == np.float64
    assert err <= TOL, (kw, err)


def test_wsd_cooldown_to_min():
    """``cooldown_to_min`` ends each cooldown at the floor; without it the reference's
    1-sqrt jumps from near 0 up to ``min_lr_ratio``."""
    with x64():
        for kind in ("1-sqrt", "linear", "1-square", "cosine"):
            f = optzoo.schedules.wsd(1.0, 10, 10, 100, 0.2, kind, cooldown_to_min=True)
            vals = np.asarray(fast_jit(jax.vmap(f))(jnp.arange(0, 140)))
            assert np.all(np.diff(vals[20:]) <= 1e-15), kind
            assert abs(vals[119] - 0.2) < 0.05 and vals[120] == pytest.approx(0.2), kind
        plain = optzoo.schedules.wsd(1.0, 10, 10, 100, 0.2)
        assert float(plain(119)) < 0.06 and float(plain(120)) == pytest.approx(0.2)


# --- Adam-atan2 -----------------------------------------------------------------------

ATAN2 = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.95), a=1.0, b=2.0),
    dict(lr=0.01, weight_decay=0.05),
    dict(lr=0.01, weight_decay=0.05, cautious_wd=True),
    dict(lr=0.01, weight_decay=0.002, decoupled_wd=True, cautious_wd=True),
    dict(lr=0.01, regen_reg_rate=0.5),
    dict(lr=0.01, regen_reg_rate=0.005, decoupled_wd=True),
    dict(lr=0.01, cautious_factor=0.0),
    dict(lr=0.01, betas=(0.9, 0.999), cautious_factor=0.3, weight_decay=0.02),
]


@pytest.mark.parametrize("kw", ATAN2, ids=config_label)
def test_adam_atan2(kw, record_parity, monkeypatch):
    from adam_atan2_pytorch import AdamAtan2

    if kw.get("cautious_wd"):
        # The reference builds the cautious decay mask with .float(), so its factor
        # 1 - lr wd mask is rounded to float32 (a 3e-8 relative change of the decayed
        # params, whatever their dtype); kept in float64 here.
        monkeypatch.setattr(torch.Tensor, "float", lambda t: t.to(torch.float64))

    err = run_against(lambda ps: AdamAtan2(ps, **kw), lambda: optzoo.adam_atan2(**_ours(kw)))
    _check(record_parity, "adam_atan2_pytorch.AdamAtan2", kw, err)


# --- CAME -------------------------------------------------------------------------------

# With the default betas at lr >= 0.005 this trajectory amplifies rounding: the reference
# against itself from a start moved by one ulp differs by 4e-9 (lr=0.005) or 2e-10
# (lr=0.01) after 100 steps, 4e-14 at lr=0.002; so those run at lr=0.002.
CAME_CASES = [
    dict(lr=0.002),
    dict(lr=0.005, eps=(1e-20, 1e-12), clip_threshold=0.5, betas=(0.8, 0.99, 0.995)),
    dict(lr=0.005, weight_decay=0.05, betas=(0.9, 0.95, 0.99)),
    dict(lr=0.005, clip_threshold=10.0),
]


@pytest.mark.parametrize("kw", CAME_CASES, ids=config_label)
def test_came(kw, record_parity):
    from came_pytorch import CAME

    ours = _ours(kw, 3)
    if "eps" in ours:
        ours["eps1"], ours["eps2"] = ours.pop("eps")
    err = run_against(lambda ps: CAME(ps, **kw), lambda: optzoo.came(**ours))
    _check(record_parity, "came_pytorch.CAME", kw, err)


def test_came_higher_rank():
    """A 3-axis leaf factors over its last two axes (rows ``shape[:-1]``, columns
    ``shape[:-2] + shape[-1:]``), as the reference; 30 float64 steps."""
    from came_pytorch import CAME

    rng = np.random.default_rng(3)
    p0, grads = rng.normal(size=(3, 4, 5)), rng.normal(size=(30, 3, 4, 5))
    tp = torch.tensor(p0, requires_grad=True)
    ref = CAME([tp], lr=0.01, weight_decay=0.01)
    with x64():
        tx = optzoo.came(0.01, weight_decay=0.01)
        p = jnp.asarray(p0)
        state = tx.init(p)
        assert state[0].v_row.shape == (3, 4) and state[0].v_col.shape == (3, 5)
        update = fast_jit(tx.update)
        for g in grads:
            tp.grad = torch.tensor(g)
            ref.step()
            u, state = update(jnp.asarray(g), state, p)
            p = optax.apply_updates(p, u)
            assert leaf_rel_err({"p": p}, {"p": tp.detach().numpy()}) <= TOL


# --- Lookahead --------------------------------------------------------------------------

LOOKAHEAD = [
    ("AdamW", dict(lr=0.01, weight_decay=0.05), dict()),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.99)), dict(k=3, alpha=0.8)),
    ("AdamW", dict(lr=0.02, weight_decay=0.01), dict(k=1, alpha=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), dict(k=7, alpha=0.5)),
]


@pytest.mark.parametrize("inner,inner_kw,kw", LOOKAHEAD,
                         ids=[f"{c}({config_label(i)}), {config_label(k)}"
                              for c, i, k in LOOKAHEAD])
def test_lookahead(inner, inner_kw, kw, record_parity):
    """The params after every step are the reference's fast weights, and
    ``lookahead_slow_params`` its ``slow_params``."""
    from pytorch_optimizer import Lookahead

    make_inner = {"AdamW": optzoo.pytorch.AdamW, "SGD": optzoo.pytorch.SGD}[inner]

    def slow_err(ref, tp, state, params):
        expected = {k: ref.state[t]["slow_params"].numpy() for k, t in tp.items()}
        return leaf_rel_err(optzoo.lookahead_slow_params(state), expected)

    err = run_against(
        lambda ps: Lookahead(getattr(torch.optim, inner)(ps, **inner_kw), **kw),
        lambda: optzoo.lookahead(make_inner(**inner_kw), **kw), after=slow_err)
    label = f"{inner}({config_label(inner_kw)}), {config_label(kw)}"
    record_parity("reference", "pytorch_optimizer.Lookahead", label, err, STEPS)
    assert err <= TOL, (label, err)


def test_lookahead_params_between_syncs():
    """Between synchronisations the update is the inner's; on the k-th step the
    params become slow + alpha (fast - slow) and the counter restarts."""
    with x64():
        params = {"w": jnp.arange(3.0)}
        tx = optzoo.lookahead(optax.sgd(0.1), k=2, alpha=0.25)
        state = tx.init(params)
        g = {"w": jnp.ones(3)}
        u, state = tx.update(g, state, params)
        np.testing.assert_allclose(u["w"], -0.1)
        params = optax.apply_updates(params, u)
        u, state = tx.update(g, state, params)
        np.testing.assert_allclose(optax.apply_updates(params, u)["w"],
                                   jnp.arange(3.0) + 0.25 * -0.2, rtol=1e-15)
        assert int(state.count) == 0
        np.testing.assert_allclose(state.slow["w"], jnp.arange(3.0) - 0.05, rtol=1e-15)


# --- cautious ---------------------------------------------------------------------------

CAUTIOUS_LION = [
    dict(lr=0.01, betas=(0.8, 0.95)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.1, weight_decouple=False),
    dict(lr=0.01, weight_decay=0.05, fixed_decay=True),
]


@pytest.mark.parametrize("kw", CAUTIOUS_LION, ids=config_label)
def test_cautious_lion(kw, record_parity):
    """``pytorch_optimizer.Lion(cautious=True)``: around ``optzoo.lion`` without weight
    decay; with it, the reference masks Lion's direction and then decays (coupled,
    decoupled or fixed), which is the cautious direction in pytorch-optimizer's
    decay chain."""
    from pytorch_optimizer import Lion

    from optzoo.transforms import _decay
    from optzoo.transforms.sign import scale_by_lion

    ours = _ours(kw)
    if "weight_decay" not in kw:
        def make():
            return optzoo.cautious(optzoo.lion(**ours))
    else:
        def make():
            direction = optzoo.cautious(scale_by_lion(ours.get("b1", 0.9), ours.get("b2", 0.99)),
                                        direction=True)
            return _decay.chain("lion", direction, ours["learning_rate"], ours["weight_decay"],
                                ours.get("weight_decouple", True), ours.get("fixed_decay", False))
    err = run_against(lambda ps: Lion(ps, cautious=True, **kw), make)
    _check(record_parity, "pytorch_optimizer.Lion", {**kw, "cautious": True}, err)


CAUTIOUS_OTHERS = [
    ("ADOPT", dict(lr=0.01, betas=(0.8, 0.99))),
    ("ADOPT", dict(lr=0.01, weight_decay=0.05, stable_adamw=True)),
    ("LaProp", dict(lr=0.01, betas=(0.8, 0.99), foreach=False)),
    ("AdEMAMix", dict(lr=0.01, alpha=0.0)),
]


@pytest.mark.parametrize("cls,kw", CAUTIOUS_OTHERS,
                         ids=[f"{c}({config_label(k)})" for c, k in CAUTIOUS_OTHERS])
def test_cautious_wraps_optimizer(cls, kw, record_parity):
    """``cautious(optzoo.<name>(...))`` is the reference's ``cautious=True`` wherever it
    masks the whole step: ADOPT (a coupled decay is chained before the wrapper, as the
    reference adds it to the gradient first), LaProp, and AdEMAMix with ``alpha=0``
    (otherwise it masks only the fast momentum)."""
    import pytorch_optimizer as po

    name = cls.lower()
    ours = {k: v for k, v in _ours(kw).items() if k not in ("foreach", "weight_decay")}

    def make():
        tx = optzoo.cautious(getattr(optzoo, name)(**ours))
        wd = kw.get("weight_decay", 0.0)
        return optax.chain(optax.add_decayed_weights(wd), tx) if wd else tx

    err = run_against(lambda ps: getattr(po, cls)(ps, cautious=True, **kw), make)
    _check(record_parity, f"pytorch_optimizer.{cls}", {**kw, "cautious": True}, err)


def test_cautious_mask_and_scale():
    """Per leaf: coordinates whose step increases the loss are dropped, the rest
    scaled by n / (kept + 1); ``direction=True`` reads the sign the other way."""
    g = {"a": jnp.array([1.0, -2.0, 3.0, 0.0]), "b": jnp.array([1.0])}
    u = {"a": jnp.array([-0.5, -0.5, -0.5, -0.5]), "b": jnp.array([2.0])}
    inner = optax.GradientTransformation(lambda p: optax.EmptyState(),
                                         lambda g_, s, p=None: (u, s))
    out, _ = optzoo.cautious(inner).update(g, optax.EmptyState())
    np.testing.assert_allclose(out["a"], [-0.5 * 4 / 3, 0.0, -0.5 * 4 / 3, 0.0])
    np.testing.assert_allclose(out["b"], [0.0])
    out, _ = optzoo.cautious(inner, direction=True).update(g, optax.EmptyState())
    np.testing.assert_allclose(out["a"], [0.0, -0.5 * 4 / 2, 0.0, 0.0])
    np.testing.assert_allclose(out["b"], [2.0 / 2])
