"""The race's figures: ``loss_curves.png`` (with test accuracy on the digits) and, on the 2-D
problems, ``trajectories.png``."""

from __future__ import annotations

from pathlib import Path

from optzoo.cli.plots import colors as make_colors
from optzoo.cli.plots import pyplot
from optzoo.cli.race_engine import problem as make_problem
from optzoo.cli.race_settings import HELDOUT_TARGETS, RACE_TARGETS
from optzoo.cli.race_tables import fmt_loss, fmt_rate, sort_key


def _rate_text(lr) -> str:
    return "line search" if lr is None else f"lr {fmt_rate(lr)}"


def plot_losses(results, problem, out: Path, title: str, n_test: int = 0) -> None:
    """``out/loss_curves.png``: :func:`loss_figure`, saved."""
    plt = pyplot()
    fig = loss_figure(results, problem, title, n_test)
    fig.savefig(out / "loss_curves.png")
    plt.close(fig)


def loss_figure(results, problem, title: str, n_test: int = 0):
    """The loss curves (the legend outside the axes, so it hides none) and, on the digits, the
    test accuracies on an axis from 0 to 100%."""
    import numpy as np

    plt = pyplot()
    colors = dict(zip([r.name for r in results], make_colors(len(results))))
    ranked = sorted(results, key=sort_key)
    if problem == "digits":
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 5), dpi=110, gridspec_kw={"width_ratios": [2, 1]})
    else:
        fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    for r in ranked:
        ax.plot(r.curve_steps, r.curve, color=colors[r.name], lw=1.6,
                label=f"{r.name} ({_rate_text(r.learning_rate)})")
    target = RACE_TARGETS[problem]
    if problem == "saddle":
        ax.set_yscale("symlog", linthresh=1e-2)
    else:
        ax.set_yscale("log")
    finite = np.concatenate([r.curve[np.isfinite(r.curve)] for r in results] or [np.zeros(1)])
    if not finite.size:
        finite = np.zeros(1)
    if problem != "saddle":
        lo = max(float(np.min(finite[finite > 0])) if np.any(finite > 0) else 1e-12, 1e-12)
        ax.set_ylim(min(lo, target) / 2, max(float(np.max(finite)), target) * 2)
    else:
        ax.set_ylim(max(float(np.min(finite)), -1e3), float(np.max(finite)) + 1)
    ax.axhline(target, color="0.4", ls=":", lw=1)
    ax.text(0.005, target, f" target {target:g}", va="bottom", fontsize=8, color="0.3",
            transform=ax.get_yaxis_transform(), clip_on=True)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (mini-batch, smoothed)" if problem == "digits" else "f(x)")
    ax.set_title(title, loc="left", fontweight="bold", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, framealpha=0.9)
    if problem == "digits":
        names = [r.name for r in ranked][::-1]
        accs = [100 * r.test_accuracy for r in ranked][::-1]
        bx.barh(names, accs, color=[colors[n] for n in names])
        for i, a in enumerate(accs):
            bx.text(a, i, f" {a:.1f}%", va="center", fontsize=8)
        bx.set_xlim(0.0, 112.0)  # from 0: bar lengths are the accuracies; room for the labels
        bx.set_xticks(range(0, 101, 20))
        bx.set_xlabel("test accuracy after the race (%)")
        bx.set_title(f"held-out test split ({n_test} images)", loc="left", fontsize=10)
        bx.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_heldout(results, problem, out: Path, title: str) -> None:
    """``out/heldout_curves.png``: :func:`heldout_figure`, saved."""
    plt = pyplot()
    fig = heldout_figure(results, problem, title)
    fig.savefig(out / "heldout_curves.png")
    plt.close(fig)


def heldout_figure(results, problem, title: str):
    """A held-out race's curves: held-out loss against steps (left) and against training
    seconds (right), one legend outside the axes."""
    import numpy as np

    plt = pyplot()
    colors = dict(zip([r.name for r in results], make_colors(len(results))))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(15, 5), dpi=110, sharey=True)
    for r in sorted(results, key=sort_key):
        label = f"{r.name} ({_rate_text(r.learning_rate)}): {fmt_loss(r.final_loss)}"
        ax.plot(r.curve_steps, r.curve, color=colors[r.name], lw=1.6, marker=".", ms=3)
        bx.plot(r.curve_seconds, r.curve, color=colors[r.name], lw=1.6, marker=".", ms=3, label=label)
    finite = np.concatenate([r.curve[np.isfinite(r.curve)] for r in results] or [np.ones(1)])
    finite = finite[finite > 0] if np.any(finite > 0) else np.ones(1)
    target = HELDOUT_TARGETS.get(problem, RACE_TARGETS[problem])
    ax.set_yscale("log")
    ax.set_ylim(min(float(finite.min()), target) / 1.2, float(finite.max()) * 1.2)
    for a in (ax, bx):
        a.axhline(target, color="0.4", ls=":", lw=1)
        a.grid(alpha=0.3, which="both")
    ax.text(0.005, target, f" target {target:g}", va="bottom", fontsize=8, color="0.3",
            transform=ax.get_yaxis_transform(), clip_on=True)
    ax.set_xlabel("step")
    bx.set_xlabel("training seconds (evaluation not counted)")
    ax.set_ylabel("held-out loss")
    ax.set_title(title, loc="left", fontweight="bold", fontsize=11)
    bx.set_title("the same against wall-clock training time", loc="left", fontsize=10)
    bx.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, framealpha=0.9)
    fig.tight_layout()
    return fig


def plot_trajectories(results, problem, out: Path) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    plt = pyplot()
    prob = make_problem(problem)
    (x_lo, x_hi), (y_lo, y_hi) = prob.bounds
    gx, gy = np.meshgrid(np.linspace(x_lo, x_hi, 300), np.linspace(y_lo, y_hi, 300))
    z = np.asarray(jax.vmap(prob.fn, in_axes=1)(jnp.stack([gx.ravel(), gy.ravel()])).reshape(gx.shape))
    if problem == "saddle":
        levels = np.linspace(float(z.min()), float(z.max()), 25)
        zz = z
    else:
        zz = np.log10(z - prob.min_value + 1e-3)
        levels = 25
    n = len(results)
    cols = min(5, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows + 0.4), dpi=110, squeeze=False)
    for ax, r, c in zip(axes.flat, results, make_colors(n)):
        ax.contourf(gx, gy, zz, levels=levels, cmap="Greys_r", alpha=0.55)
        ax.contour(gx, gy, zz, levels=levels, colors="0.5", linewidths=0.3)
        path = np.clip(r.trajectory, [x_lo - 1, y_lo - 1], [x_hi + 1, y_hi + 1])
        ax.plot(path[:, 0], path[:, 1], "-", color=c, lw=1.5)
        ax.plot(path[::max(1, len(path) // 25), 0], path[::max(1, len(path) // 25), 1], ".", color=c, ms=3)
        ax.plot(*path[0], "o", color="white", mec="black", ms=6, zorder=5)
        ax.plot(*path[-1], "s", color=c, mec="black", ms=6, zorder=5)
        ax.plot(*np.asarray(prob.minimum), "*", color="gold", mec="black", ms=12, zorder=6)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_title(f"{r.name} ({_rate_text(r.learning_rate)})\nf = {fmt_loss(r.final_loss)}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    mark = "saddle point" if problem == "saddle" else "minimum"
    fig.suptitle(
        f"{problem}: paths from ○ start to ■ end, ★ {mark}"
        + ("" if problem == "saddle" else " (contours of log10 f)"),
        fontweight="bold",
    )
    fig.tight_layout()
    fig.savefig(out / "trajectories.png")
    plt.close(fig)
