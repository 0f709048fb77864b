"""What the benchmark times: the model shapes, and each algorithm written for optzoo, optax and
``torch.optim`` with the same hyperparameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

# name -> (description, leaf shapes)
SIZES: dict[str, tuple[str, list[tuple[int, ...]]]] = {
    "a": ("8M params in 1 leaf", [(8_000_000,)]),
    "b": ("8M params in 200 leaves", [(200, 200)] * 200),
    "c": ("200k params in 400 leaves", [(500,)] * 400),
}
TINY = ("tiny: 4k params in 4 leaves", [(1000,)] * 4)
#: the flat layout's middle size (``--sizes 2m``): many small leaves that still fill memory
MANY = ("2M params in 1,000 leaves", [(2_000,)] * 1000)
ALL_SIZES = dict(SIZES, tiny=TINY, **{"2m": MANY})

OPTIMIZERS = (
    "sgd momentum nag adagrad adadelta rmsprop adam adamw adamax nadam radam amsgrad "
    "lion lamb lars adafactor rprop"
).split()


#: ``--optimizers`` group names: ``classic`` the shared algorithms (optzoo/optax/torch.optim),
#: ``modern`` the :data:`MODERN` rows (optzoo/optax/published torch reference), ``all`` both
GROUPS = ("classic", "modern", "all")


def select(all_specs: list["Spec"], wanted: str) -> dict[str, "Spec"]:
    """The specs that ``--optimizers`` names, in its order: comma-separated optimizer names
    and groups (:data:`GROUPS`), each spec once. Raises ``ValueError`` naming unknown ones."""
    by_name = {s.name: s for s in all_specs}
    modern = [n for n in by_name if n in MODERN]
    groups = {"classic": [n for n in by_name if n not in MODERN], "modern": modern,
              "all": list(by_name)}
    items = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in items if n not in by_name and n not in groups]
    if unknown or not items:
        raise ValueError(f"unknown or unavailable optimizers {unknown}; have the groups "
                         f"{', '.join(GROUPS)} and {sorted(by_name)}")
    out: dict[str, Spec] = {}
    for item in items:
        for n in groups.get(item, [item]):
            out.setdefault(n, by_name[n])
    return out


def min_traffic_bytes(state_arrays: int, itemsize: int = 4) -> int:
    """Bytes per parameter an update must move at least: read params, grads and
    ``state_arrays`` state arrays, write params and the state arrays."""
    return (3 + 2 * state_arrays) * itemsize


@dataclasses.dataclass(frozen=True)
class Spec:
    """One algorithm, written for each library with the same hyperparameters.

    ``state_arrays`` is the number of per-parameter state arrays the update reads
    and writes (0 for SGD, 2 for Adam); it fixes the minimum traffic.
    """

    name: str
    optzoo: Callable[[], Any]
    optax: Callable[[], Any] | None
    torch: Callable[[list, dict], Any] | None  # (params, {"foreach"/"fused": True})
    state_arrays: int
    note: str = ""
    reference: Callable[[list], Any] | None = None  # the published torch implementation


def specs() -> list[Spec]:
    """Every algorithm the benchmark knows that this optzoo has, in the order of ``OPTIMIZERS``."""
    import optax

    import optzoo

    def t(cls_name, **kw):
        def make(params, flags):
            import torch

            return getattr(torch.optim, cls_name)(params, **kw, **flags)

        return make

    out = [
        Spec("sgd", lambda: optzoo.sgd(1e-2), lambda: optax.sgd(1e-2), t("SGD", lr=1e-2), 0),
        Spec(
            "momentum",
            lambda: optzoo.momentum(1e-2, 0.9),
            lambda: optax.sgd(1e-2, momentum=0.9),
            t("SGD", lr=1e-2, momentum=0.9),
            1,
        ),
        Spec(
            "nag",
            lambda: optzoo.nag(1e-2, 0.9),
            lambda: optax.sgd(1e-2, momentum=0.9, nesterov=True),
            t("SGD", lr=1e-2, momentum=0.9, nesterov=True),
            1,
        ),
        Spec(
            "adagrad",
            lambda: optzoo.adagrad(1e-2, initial_accumulator_value=0.1, eps=1e-7),
            lambda: optax.adagrad(1e-2, initial_accumulator_value=0.1, eps=1e-7),
            t("Adagrad", lr=1e-2, initial_accumulator_value=0.1, eps=1e-7),
            1,
        ),
        Spec(
            "adadelta",
            lambda: optzoo.adadelta(1.0, rho=0.95, eps=1e-6),
            lambda: optax.adadelta(1.0, rho=0.95, eps=1e-6),
            t("Adadelta", lr=1.0, rho=0.95, eps=1e-6),
            2,
        ),
        Spec(
            "rmsprop",
            lambda: optzoo.rmsprop(1e-3, decay=0.9, eps=1e-8),
            lambda: optax.rmsprop(1e-3, decay=0.9, eps=1e-8),
            t("RMSprop", lr=1e-3, alpha=0.9, eps=1e-8),
            1,
        ),
        Spec("adam", lambda: optzoo.adam(1e-3), lambda: optax.adam(1e-3), t("Adam", lr=1e-3), 2),
        Spec(
            "adamw",
            lambda: optzoo.adamw(1e-3, weight_decay=1e-2),
            lambda: optax.adamw(1e-3, weight_decay=1e-2),
            t("AdamW", lr=1e-3, weight_decay=1e-2),
            2,
        ),
        Spec("adamax", lambda: optzoo.adamax(2e-3), lambda: optax.adamax(2e-3), t("Adamax", lr=2e-3), 2),
        Spec(
            "nadam",
            lambda: optzoo.nadam(2e-3),
            lambda: optax.nadam(2e-3),
            t("NAdam", lr=2e-3, momentum_decay=4e-3),
            2,
            "optax.nadam keeps m_t = b1; per-element work is the same",
        ),
        Spec("radam", lambda: optzoo.radam(1e-3), lambda: optax.radam(1e-3, threshold=5.0), t("RAdam", lr=1e-3), 2),
        Spec(
            "amsgrad",
            lambda: optzoo.amsgrad(1e-3),
            lambda: optax.amsgrad(1e-3),
            t("Adam", lr=1e-3, amsgrad=True),
            3,
            "optax.amsgrad takes the max of the bias-corrected nu; same traffic",
        ),
    ]
    # optimizers added to optzoo later; torch has only Rprop among them
    def every_leaf(params):
        import jax

        return jax.tree.map(lambda _: True, params)

    extra = {
        "lion": (lambda z: z.lion(1e-4, b1=0.9, b2=0.99, weight_decay=0.0),
                 lambda: optax.lion(1e-4, b1=0.9, b2=0.99, weight_decay=0.0), None, 1, ""),
        "lamb": (lambda z: z.lamb(1e-3, eps=1e-6, weight_decay=0.0),
                 lambda: optax.lamb(1e-3, eps=1e-6, weight_decay=0.0), None, 2, ""),
        "lars": (lambda z: z.lars(1e-2, momentum=0.9, trust_coefficient=1e-3, weight_decay=5e-4,
                                  eps=0.0, weight_decay_mask=every_leaf, trust_ratio_mask=every_leaf),
                 lambda: optax.lars(1e-2, weight_decay=5e-4, trust_coefficient=1e-3, eps=0.0,
                                    momentum=0.9),
                 None, 1, ""),
        "adafactor": (lambda z: z.adafactor(1e-2), lambda: optax.adafactor(1e-2), None, 1,
                      "each library's own Adafactor defaults (not the same hyperparameters); "
                      "1-D leaves keep an unfactored second moment"),
        "rprop": (lambda z: z.rprop(1e-2, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
                                    max_step_size=50.0),
                  lambda: optax.rprop(1e-2, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
                                      max_step_size=50.0),
                  t("Rprop", lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)), 2, ""),
    }
    for name, (zoo, ox, tt, k, note) in extra.items():
        if getattr(optzoo, name, None) is not None:
            out.append(Spec(name, (lambda zoo=zoo: zoo(optzoo)), ox, tt, k, note))
    return out + modern_specs()


# The modern optimizers: optzoo at the reference's defaults (and learning rate), optax's
# implementation where it has one (its own defaults otherwise), and the published torch
# implementation that optzoo is checked against.
# name -> (optzoo kwargs, optax constructor path and kwargs or None, reference "module.Class"
#          and kwargs, per-parameter state arrays)
MODERN: dict[str, tuple[dict, tuple[str, dict] | None, tuple[str, dict], int]] = {
    "schedule_free_adamw": (dict(learning_rate=2.5e-3), ("contrib.schedule_free_adamw",
                            dict(learning_rate=2.5e-3)),
                            ("schedulefree.AdamWScheduleFree", dict(lr=2.5e-3)), 3),
    "schedule_free_sgd": (dict(learning_rate=1.0), ("contrib.schedule_free_sgd",
                          dict(learning_rate=1.0)),
                          ("schedulefree.SGDScheduleFree", dict(lr=1.0)), 2),
    "prodigy": (dict(learning_rate=1.0), ("contrib.prodigy", dict(learning_rate=1.0)),
                ("prodigyopt.Prodigy", dict(lr=1.0)), 4),
    "dadapt_adam": (dict(learning_rate=1.0), ("contrib.dadapt_adamw", dict(learning_rate=1.0)),
                    ("dadaptation.DAdaptAdam", dict(lr=1.0)), 3),
    "madgrad": (dict(learning_rate=1e-2), ("contrib.madgrad", dict(learning_rate=1e-2)),
                ("madgrad.MADGRAD", dict(lr=1e-2)), 3),
    "adabelief": (dict(learning_rate=1e-3), ("adabelief", dict(learning_rate=1e-3)),
                  ("adabelief_pytorch.AdaBelief", dict(lr=1e-3, print_change_log=False)), 2),
    "came": (dict(learning_rate=2e-4), None, ("came_pytorch.CAME", dict(lr=2e-4)), 3),
    "adam_atan2": (dict(learning_rate=1e-4), None, ("adam_atan2_pytorch.AdamAtan2",
                   dict(lr=1e-4)), 2),
    "adan": (dict(learning_rate=1e-3), ("adan", dict(learning_rate=1e-3)),
             ("pytorch_optimizer.Adan", dict(lr=1e-3)), 4),
    "adopt": (dict(learning_rate=1e-3), ("contrib.adopt", dict(learning_rate=1e-3)),
              ("pytorch_optimizer.ADOPT", dict(lr=1e-3)), 2),
    "ademamix": (dict(learning_rate=1e-3), ("contrib.ademamix", dict(learning_rate=1e-3)),
                 ("pytorch_optimizer.AdEMAMix", dict(lr=1e-3)), 3),
    "laprop": (dict(learning_rate=4e-4), None, ("pytorch_optimizer.LaProp", dict(lr=4e-4)), 2),
    "mars": (dict(learning_rate=3e-3), None, ("pytorch_optimizer.MARS", dict(lr=3e-3)), 3),
    "tiger": (dict(learning_rate=1e-3), None, ("pytorch_optimizer.Tiger", dict(lr=1e-3)), 1),
    "sign_sgd": (dict(learning_rate=1e-3, momentum=0.9), ("signum", dict(learning_rate=1e-3)),
                 ("pytorch_optimizer.SignSGD", dict(lr=1e-3, momentum=0.9)), 1),
    "yogi": (dict(learning_rate=1e-2), ("yogi", dict(learning_rate=1e-2)),
             ("pytorch_optimizer.Yogi", dict(lr=1e-2)), 2),
    "qhadam": (dict(learning_rate=1e-3), None, ("pytorch_optimizer.QHAdam", dict(lr=1e-3)), 2),
    "adabound": (dict(learning_rate=1e-3), None, ("pytorch_optimizer.AdaBound", dict(lr=1e-3)),
                 2),
    "novograd": (dict(learning_rate=1e-3), ("novograd", dict(learning_rate=1e-3)),
                 ("pytorch_optimizer.NovoGrad", dict(lr=1e-3)), 1),
    "adamp": (dict(learning_rate=1e-3), None, ("pytorch_optimizer.AdamP", dict(lr=1e-3)), 2),
    "diffgrad": (dict(learning_rate=1e-3), None, ("pytorch_optimizer.DiffGrad", dict(lr=1e-3)),
                 3),
    "stable_adamw": (dict(learning_rate=1e-3), None,
                     ("pytorch_optimizer.StableAdamW", dict(lr=1e-3)), 2),
}


def modern_specs() -> list[Spec]:
    """A :class:`Spec` for each :data:`MODERN` optimizer this optzoo has."""
    import importlib

    import optax

    import optzoo

    def optax_ctor(path, kwargs):
        def make():
            obj = optax
            for part in path.split("."):
                obj = getattr(obj, part)
            return obj(**kwargs)

        return make

    def reference(path, kwargs):
        module, cls = path.rsplit(".", 1)

        def make(params):
            opt = getattr(importlib.import_module(module), cls)(params, **kwargs)
            if hasattr(opt, "train"):  # schedule-free optimizers step in train mode only
                opt.train()
            return opt

        return make

    out = []
    for name, (zoo_kw, ox, (ref, ref_kw), k) in MODERN.items():
        ctor = getattr(optzoo, name, None)
        if ctor is None:
            continue
        out.append(Spec(name, (lambda ctor=ctor, kw=zoo_kw: ctor(**kw)),
                        optax_ctor(*ox) if ox else None, None, k,
                        "" if ox else "optax has none", reference(ref, ref_kw)))
    return out
