"""The race's defaults: the classic zoo, the problems, and the tuned learning rate, step count and
target loss of each problem.

The learning rates were chosen once by a sweep over three rates a factor of 3 apart per optimizer
and problem (the best final loss that does not diverge; on the saddle, a rate that escapes while
the path stays on the plot). AdaDelta keeps the paper's rate 1.0 on the digits. The modern
preset's rates (adamw, ademamix, adopt, lion on the digits and on charlm) were chosen the same
way by the held-out loss (digits: 600 steps; charlm: 400 steps at batch 16); schedule-free AdamW
(0.0025) and Prodigy (1.0) race at their defaults, as they are meant to, and Muon at its default
0.02, which won its charlm sweep (0.01, 0.02, 0.05). An optimizer without a tuned rate races at
its constructor's default learning rate (its registry record, ``optzoo.info(name).defaults``: 1.0
for newton and newton_cg, a line search for lbfgs), and only one whose constructor requires a
rate gets the problem's ``"*"`` rate.
"""

from __future__ import annotations

CLASSIC_ZOO = (
    "sgd", "momentum", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam", "amsgrad",
)
PROBLEMS = ("digits", "rosenbrock", "beale", "quadratic", "saddle", "charlm")
#: ``--preset``: a set of optimizers raced on several problems, each scored by its held-out loss.
#: A name this optzoo does not have is skipped (the race says so).
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "modern": {
        "optimizers": ("adamw", "schedule_free_adamw", "prodigy", "ademamix", "adopt", "lion", "muon",
                       "soap"),
        "problems": ("digits", "charlm"),
    },
}
#: the problems scored by the held-out loss, recorded at HELDOUT_POINTS evenly spaced steps (charlm
#: always; the digits under a preset): the digits' test split, charlm's held-out text windows
HELDOUT_PROBLEMS = ("digits", "charlm")
HELDOUT_POINTS = 40
#: how to read the params to evaluate from an optimizer's state: name -> the optzoo function,
#: called as ``f(state, params)`` (or ``f(state)`` when it takes one argument, as
#: ``optzoo.swa_params``); any other optimizer is evaluated at its params
EVAL_PARAMS = {
    "schedule_free_adamw": "schedule_free_eval_params",
    "schedule_free_sgd": "schedule_free_eval_params",
    "schedule_free_radam": "schedule_free_eval_params",
}
#: the character-level transformer LM (optzoo.problems.charlm at its defaults: 2 layers, d_model
#: 64, 4 heads, about 110k params): random training windows of CHARLM_CONTEXT characters,
#: CHARLM_BATCH a step (drawn on device, the same for every optimizer); held-out loss over
#: CHARLM_EVAL_WINDOWS evenly spaced windows of the held-out text
CHARLM_BATCH = 16
CHARLM_CONTEXT = 64
CHARLM_EVAL_WINDOWS = 64

#: learning rate per problem and optimizer (``"*"``: any optimizer not listed)
RACE_LEARNING_RATES: dict[str, dict[str, float]] = {
    "digits": {
        "sgd": 0.3, "momentum": 0.1, "nag": 0.1, "adagrad": 0.1, "adadelta": 1.0,
        "rmsprop": 3e-3, "adam": 1e-2, "adamax": 2e-2, "nadam": 1e-2, "amsgrad": 1e-2,
        "adamw": 3e-2, "ademamix": 3e-3, "adopt": 3e-3, "lion": 1e-3,
        "*": 3e-3,
    },
    "rosenbrock": {
        "sgd": 1e-3, "momentum": 1.5e-3, "nag": 5e-4, "adagrad": 0.9, "adadelta": 0.3,
        "rmsprop": 3e-3, "adam": 0.05, "adamax": 0.15, "nadam": 0.015, "amsgrad": 0.05,
        "*": 0.01,
    },
    "beale": {
        "sgd": 0.03, "momentum": 5e-3, "nag": 5e-3, "adagrad": 0.3, "adadelta": 1.0,
        "rmsprop": 3e-3, "adam": 0.05, "adamax": 0.15, "nadam": 0.05, "amsgrad": 0.05,
        "*": 0.01,
    },
    "quadratic": {
        "sgd": 0.015, "momentum": 0.01, "nag": 0.01, "adagrad": 0.3, "adadelta": 3.0,
        "rmsprop": 0.01, "adam": 0.05, "adamax": 0.05, "nadam": 0.05, "amsgrad": 0.05,
        "*": 0.01,
    },
    "saddle": {
        "sgd": 0.03, "momentum": 3e-3, "nag": 3e-3, "adagrad": 0.1, "adadelta": 0.3,
        "rmsprop": 0.01, "adam": 0.01, "adamax": 0.01, "nadam": 0.01, "amsgrad": 0.01,
        "*": 0.01,
    },
    "charlm": {
        "adam": 3e-3, "adamw": 3e-3, "ademamix": 3e-3, "adopt": 3e-3, "lion": 1e-3,
        "*": 1e-3,
    },
}
#: default number of steps per problem
RACE_STEPS = {"digits": 600, "rosenbrock": 2000, "beale": 1000, "quadratic": 300, "saddle": 200,
              "charlm": 600}
#: "steps to target": first step whose loss (for digits: smoothed mini-batch loss) is at or below
RACE_TARGETS = {"digits": 0.1, "rosenbrock": 1e-3, "beale": 1e-3, "quadratic": 1e-4, "saddle": -1.0,
                "charlm": 2.5}
#: the same for the held-out loss (the digits under a preset; charlm uses RACE_TARGETS)
HELDOUT_TARGETS = {"digits": 0.15, "charlm": 2.5}
DIGITS_BATCH = 64
SCHEDULE_HORIZON = 1000  # the registry's examples span about this many steps
#: at most this many points of each loss curve (and 2-D path) are kept, whatever the step count
CURVE_POINTS = 1000
#: ``--sweep``: each optimizer's rate times these factors (log-spaced, a factor sqrt(10) apart),
#: each run for at most SWEEP_STEPS steps; the lowest final loss wins
SWEEP_FACTORS = tuple(10.0 ** (k / 2) for k in range(-3, 4))
SWEEP_STEPS = 200
