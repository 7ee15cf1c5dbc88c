# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Calibration fit
#
# **Question.** How well do the estimated behavioural parameters reproduce the observed
# Piedmont figures, and how did the search get there?
#
# The calibration (docs/CALIBRATION.md; `clustersim experiment=calibrate`) estimates eight
# free parameters by the simulated method of moments: a Latin hypercube, then Nelder-Mead,
# with common random numbers and a hard budget of model runs. This notebook reads its saved
# results (`results/calibration/`); the sentences under the figures are generated from them.

# %% tags=["parameters"]
calibration_dir = "results/calibration"
out_dir = "results/calibration_fit"

# %%
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from clustersim.figures import OKABE_ITO
from clustersim.labels import parameter_label
from clustersim.notebooks import say, show_figure, show_table

cal = Path(calibration_dir)
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
table = pd.read_csv(cal / "table.csv")
history = pd.read_parquet(cal / "history.parquet")
best = yaml.safe_load((cal / "best.yaml").read_text())
say(
    f"{len(history)} evaluations of the objective; the best reaches {best['objective']:.3g}"
    f" ({best['final_objective']:.3g} on the mean of the final replications); read from `{calibration_dir}`."
)

# %% [markdown]
# ## Targets: observed, simulated (mean and 95% interval), relative error

# %%
wanted = ("target", "role", "observed", "simulated_mean", "ci95_low", "ci95_high", "relative_error", "tolerance")
cols = [c for c in wanted if c in table.columns]
show_table(table[cols], out / "fit_table", floatfmt=".3g")
fitted = table[table["role"] == "objective"] if "role" in table.columns else table
inside = fitted[fitted["relative_error"].abs() <= fitted["tolerance"]]
worst = fitted.loc[fitted["relative_error"].abs().idxmax()]
say(
    f"{len(inside)} of {len(fitted)} fitted targets are within their tolerance. The largest gap is"
    f" {worst['target']}: {worst['simulated_mean']:,.0f} simulated against {worst['observed']:,.0f} observed"
    f" ({100 * worst['relative_error']:+.0f}%, tolerance {100 * worst['tolerance']:.0f}%)."
)

# %% [markdown]
# ## How far each target is missed

# %%
fig = Figure(figsize=(7.0, 0.42 * len(fitted) + 1.4), layout="constrained")
ax = fig.add_subplot()
y = np.arange(len(fitted))[::-1]
rel = 100 * fitted["relative_error"].to_numpy()
low = 100 * (fitted["ci95_low"] / fitted["observed"] - 1).to_numpy()
high = 100 * (fitted["ci95_high"] / fitted["observed"] - 1).to_numpy()
tol = 100 * fitted["tolerance"].to_numpy()
for yi, t in zip(y, tol, strict=True):
    ax.fill_betweenx([yi - 0.4, yi + 0.4], -t, t, color="#dddddd", lw=0)
colours = [OKABE_ITO[2] if abs(r) <= t else OKABE_ITO[1] for r, t in zip(rel, tol, strict=True)]
ax.errorbar(rel, y, xerr=[rel - low, high - rel], fmt="none", ecolor="#444444", lw=1)
ax.scatter(rel, y, c=colours, zorder=3, s=30)
ax.axvline(0, color="black", lw=0.8)
ax.set_yticks(y, fitted["target"].str.replace("_", " "), fontsize=8)
ax.set_xlabel("simulated mean relative to the observed figure (%), with its 95% interval", fontsize=8)
ax.set_title("Calibration targets: grey band = tolerance; green within it, vermillion outside", fontsize=9)
ax.grid(alpha=0.3, lw=0.5)
show_figure(
    fig,
    out / "observed_vs_simulated",
    caption=f"{len(inside)} of {len(fitted)} targets within tolerance; outside: "
    + (", ".join(fitted.loc[fitted["relative_error"].abs() > fitted["tolerance"], "target"]) or "none")
    + ".",
)

# %% [markdown]
# ## The search: objective by evaluation, and the estimates

# %%
fig = Figure(figsize=(7.0, 3.4), layout="constrained")
ax = fig.add_subplot()
for i, (phase, h) in enumerate(history.groupby("phase", sort=False)):
    ax.scatter(h["evaluation"], h["objective"], s=12, color=OKABE_ITO[i % len(OKABE_ITO)], label=phase)
ax.plot(history["evaluation"], history["objective"].cummin(), color="black", lw=1, label="best so far")
ax.set_yscale("log")
ax.set_xlabel("evaluation (model runs of all targets)", fontsize=8)
ax.set_ylabel("objective: weighted squared relative error (log scale)", fontsize=8)
ax.legend(fontsize=7, frameon=False)
ax.grid(alpha=0.3, lw=0.5)
first_best = int(history["objective"].idxmin())
show_figure(
    fig,
    out / "objective_trace",
    caption=f"The best objective was found at evaluation {int(history.loc[first_best, 'evaluation'])} of"
    f" {len(history)} ({history.loc[first_best, 'phase']} phase); the last"
    f" {len(history) - first_best - 1} evaluations did not improve it.",
)
params = pd.DataFrame(
    {
        "parameter": [parameter_label(p) for p in best["params"]],
        "key": list(best["params"]),
        "estimate": list(best["params"].values()),
    }
)
show_table(params, out / "estimates", floatfmt=".4g")
