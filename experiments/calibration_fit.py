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
# results (`results/calibration/`).

# %% tags=["parameters"]
calibration_dir = "results/calibration"
out_dir = "results/calibration_fit"

# %%
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml

from clustersim.notebooks import markdown, save_figure, write_table

cal = Path(calibration_dir)
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
table = pd.read_csv(cal / "table.csv")
history = pd.read_parquet(cal / "history.parquet")
best = yaml.safe_load((cal / "best.yaml").read_text())
print(
    f"{len(history)} evaluations; best objective {best['objective']:.3g} "
    f"({best['final_objective']:.3g} on the final replications)"
)

# %% [markdown]
# ## Targets: observed, simulated (mean and 95% CI), relative error

# %%
wanted = ("target", "role", "observed", "simulated_mean", "ci95_low", "ci95_high", "relative_error", "tolerance")
cols = [c for c in wanted if c in table.columns]
write_table(table[cols], out / "fit_table")
print(markdown(table[cols]))

# %% [markdown]
# ## The search: objective by evaluation, and the estimates

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
for phase, h in history.groupby("phase"):
    ax.scatter(h["evaluation"], h["objective"], s=12, label=phase)
ax.plot(history["evaluation"], history["objective"].cummin(), color="black", lw=1, label="best so far")
ax.set_yscale("log")
ax.set_xlabel("evaluation")
ax.set_ylabel("objective (log)")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
save_figure(fig, out / "objective_trace.png")
params = pd.DataFrame({"parameter": list(best["params"]), "estimate": list(best["params"].values())})
write_table(params, out / "estimates")
print(markdown(params))

# %% [markdown]
# ## Observed vs simulated

# %%
fit = table[table["role"] == "objective"] if "role" in table.columns else table
fig, ax = plt.subplots(figsize=(5, 5))
ax.errorbar(
    fit["observed"],
    fit["simulated_mean"],
    yerr=[fit["simulated_mean"] - fit["ci95_low"], fit["ci95_high"] - fit["simulated_mean"]],
    fmt="o",
)
lim = [0, 1.1 * float(np.nanmax(fit[["observed", "simulated_mean"]].to_numpy()))]
ax.plot(lim, lim, color="grey", lw=0.8)
for row in fit.itertuples():
    ax.annotate(row.target, (row.observed, row.simulated_mean), fontsize=7)
ax.set_xlabel("observed")
ax.set_ylabel("simulated mean (95% CI)")
fig.tight_layout()
save_figure(fig, out / "observed_vs_simulated.png")
