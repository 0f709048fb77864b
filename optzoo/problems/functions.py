"""Classic optimisation test functions, each with its customary start and minimum."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Problem(NamedTuple):
    """A loss ``fn(params) -> scalar`` with its usual starting point and known minimum."""

    name: str
    fn: Callable[[jax.Array], jax.Array]
    init: jax.Array
    minimum: jax.Array  # argmin (for the saddle: the saddle point)
    min_value: float
    bounds: tuple[tuple[float, float], tuple[float, float]]  # plotting window (x, y)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Problem:
    """``(a - x)^2 + b (y - x^2)^2``; minimum 0 at ``(a, a^2)``, start ``(-1.2, 1)``."""

    def fn(p):
        x, y = p[0], p[1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    return Problem(
        "rosenbrock", fn, jnp.array([-1.2, 1.0]), jnp.array([a, a * a]), 0.0, ((-2.0, 2.0), (-1.0, 3.0))
    )


def beale() -> Problem:
    """Beale's function; minimum 0 at ``(3, 0.5)``, start ``(1, 1)``."""

    def fn(p):
        x, y = p[0], p[1]
        return (
            (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
        )

    return Problem("beale", fn, jnp.array([1.0, 1.0]), jnp.array([3.0, 0.5]), 0.0, ((-4.5, 4.5), (-4.5, 4.5)))


def ill_conditioned_quadratic(condition: float = 100.0) -> Problem:
    """``0.5 (x^2 + condition * y^2)``; minimum 0 at the origin, start ``(1, 1)``.

    The Hessian's eigenvalues are 1 and ``condition``: plain gradient descent must
    take a step below ``2 / condition`` and then crawls along ``x``.
    """

    def fn(p):
        return 0.5 * (p[0] ** 2 + condition * p[1] ** 2)

    return Problem(
        "quadratic", fn, jnp.array([1.0, 1.0]), jnp.zeros(2), 0.0, ((-1.5, 1.5), (-1.5, 1.5))
    )


def saddle() -> Problem:
    """``x^2 - y^2``: a saddle at the origin, unbounded below along ``y``.

    Started just off the ridge at ``(1, 1e-3)``, a good optimizer escapes the
    saddle (the loss goes below zero) instead of stalling at it.
    """

    def fn(p):
        return p[0] ** 2 - p[1] ** 2

    return Problem("saddle", fn, jnp.array([1.0, 1e-3]), jnp.zeros(2), 0.0, ((-1.5, 1.5), (-1.5, 1.5)))
