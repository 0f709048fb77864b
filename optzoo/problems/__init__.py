"""Test problems: classic 2-D functions with known minima, and small real data."""

from optzoo.problems.functions import (
    Problem,
    beale,
    ill_conditioned_quadratic,
    rosenbrock,
    saddle,
)

__all__ = ["Problem", "beale", "ill_conditioned_quadratic", "rosenbrock", "saddle"]
