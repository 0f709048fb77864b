"""Test problems: classic 2-D functions with known minima, and small real data."""

from optzoo.problems.charlm import (
    CharData,
    lm_batches,
    lm_eval_windows,
    lm_loss,
    load_stdlib_text,
    transformer_lm,
)

from optzoo.problems.functions import (
    Problem,
    beale,
    ill_conditioned_quadratic,
    rosenbrock,
    saddle,
)

__all__ = [
    "Problem",
    "beale",
    "ill_conditioned_quadratic",
    "rosenbrock",
    "saddle",
    # character-level language model on the standard library's docstrings
    "CharData",
    "load_stdlib_text",
    "transformer_lm",
    "lm_loss",
    "lm_batches",
    "lm_eval_windows",
    # digits (needs scikit-learn and Flax; imported on first use)
    "DigitsData",
    "MLP",
    "load_digits",
    "digits_loss",
    "digits_accuracy",
    "functional_mlp",
    "numpy_mlp",
]

_DIGITS = {"DigitsData", "MLP", "load_digits", "digits_loss", "digits_accuracy", "functional_mlp", "numpy_mlp"}


def __getattr__(name):
    if name in _DIGITS or name == "digits":
        import importlib

        digits = importlib.import_module("optzoo.problems.digits")
        return digits if name == "digits" else getattr(digits, name)
    raise AttributeError(f"module 'optzoo.problems' has no attribute {name!r}")
