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
# # Piedmont 2009-2020: the reform against the observed membership path
#
# **Question.** Does the simulated history look like Piedmont's: the membership of the 12
# poles from 2009 to 2013, then the 2016 reform? And what does the counterfactual (no
# reform) look like?
#
# **Design** (`conf/experiment/reform_timeline.yaml`, seed 2009): 20 pairs, each one history
# from 2009; at 2016-09 one arm merges into 7 clusters, the other keeps 12. The observed
# points are the calibration's membership targets (conf/calibration/piedmont.yaml, with
# their sources): they were fitted, so agreement up to 2013 is by construction; after 2013
# there is no observed membership to compare with.

# %% tags=["parameters"]
sweep_dir = "results/sweeps/reform_timeline"
out_dir = "results/reform_timeline"

# %%
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clustersim.notebooks import markdown, observed_membership, save_figure, write_table
from clustersim.report import ARM_TITLES, build_report
from clustersim.sweep import experiment_spec, read_sweep

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
build_report(sweep_dir)  # merges the runs if needed
spec = experiment_spec(Path(sweep_dir))
monthly = read_sweep(Path(sweep_dir))["monthly"]
observed = observed_membership()
print(markdown(observed))

# %% [markdown]
# ## Members: both arms with 95% bands, and the observed points

# %%
members = monthly[monthly["kpi"] == "members"]
g = members.groupby([spec["arm"], "date"])["value"]
path = g.mean().rename("mean").to_frame().join(g.std(ddof=1).rename("sd")).join(g.count().rename("n")).reset_index()
path["half"] = 1.96 * path["sd"].fillna(0.0) / np.sqrt(path["n"])
write_table(path, out / "members_path")

fig, ax = plt.subplots(figsize=(9, 4))
for arm in (spec["baseline"], spec["treatment"]):
    p = path[path[spec["arm"]] == arm]
    x = pd.to_datetime(p["date"])
    ax.plot(x, p["mean"], label=ARM_TITLES.get(arm, arm))
    ax.fill_between(x, p["mean"] - p["half"], p["mean"] + p["half"], alpha=0.25)
ax.scatter(pd.to_datetime(observed["date"]), observed["members"], color="black", zorder=5, label="observed (sources)")
ax.axvline(pd.Timestamp("2016-09-01"), color="grey", ls="--", lw=0.8)
ax.set_ylabel("member firms")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
save_figure(fig, out / "members_path.png")

# %% [markdown]
# ## Observed vs simulated at the observed dates

# %%
at = path[path[spec["arm"]] == spec["baseline"]].set_index("date")
fit = observed.assign(
    simulated=[at["mean"].get(d, np.nan) for d in observed["date"]],
    ci_half_width=[at["half"].get(d, np.nan) for d in observed["date"]],
)
fit["relative_error"] = fit["simulated"] / fit["members"] - 1
write_table(fit[["date", "members", "simulated", "ci_half_width", "relative_error"]], out / "observed_vs_simulated")
print(markdown(fit[["date", "members", "simulated", "ci_half_width", "relative_error"]]))
