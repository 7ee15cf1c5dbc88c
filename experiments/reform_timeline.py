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
# **Design** (`conf/experiment/reform_timeline.yaml`): each replication is one history from
# 2009; at the reform date one arm merges into 7 clusters, the other keeps 12. The observed
# points are the calibration's membership targets (conf/calibration/piedmont.yaml, with
# their sources): they were fitted, so agreement up to 2013 is by construction; after 2013
# there is no observed membership to compare with. The sentences under the figures are
# generated from the results.

# %% tags=["parameters"]
sweep_dir = "results/sweeps/reform_timeline"
out_dir = "results/reform_timeline"

# %%
from pathlib import Path

import numpy as np
import pandas as pd

from clustersim.figures import series_bands, series_caption, series_figure
from clustersim.labels import fmt_number, load_notes
from clustersim.notebooks import observed_membership, say, show_figure, show_table, write_table
from clustersim.report import build_report
from clustersim.sweep import read_sweep

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
report = build_report(sweep_dir)  # merges the runs if needed
design, ctx = report["design"], report["context"]
notes = load_notes(ctx.region)
monthly = read_sweep(Path(sweep_dir))["monthly"]
observed = observed_membership()
n_runs = monthly.groupby(design.arm)["run"].nunique().min()
say(f"{n_runs} replications per arm, read from `{sweep_dir}`.")
show_table(observed, caption="Observed membership of the poles (the calibration's targets, with sources)")

# %% [markdown]
# ## Members and brokered collaborations: both arms with their bands, and the observed points

# %%
paths = []
for arm in design.arms:
    paths.append(series_bands(monthly, "members", design.arm, arm).assign(**{design.arm: arm}))
path = pd.concat(paths, ignore_index=True)
write_table(path, out / "members_path")
spans = [s for a in design.arms for s in ctx.spans.get(a, [])]
kpis = ["members", "ties_brokered"]
fig = series_figure(monthly, design.arm, design.arms, notes, kpis, spans)
ax = fig.axes[0]
ax.scatter(
    pd.to_datetime(observed["date"]), observed["members"], color="black", zorder=5, s=14, label="observed (sources)"
)
ax.legend(fontsize=7, loc="lower right", frameon=False)
caption = (
    f"Lines: mean of {n_runs} replications per arm; dark bands: its 95% interval; light bands: where 95% of the"
    " replications fall; black dots: the observed membership. "
    + series_caption(monthly, design.arm, design.arms, notes, spans, kpis)
)
show_figure(fig, out / "members_path", caption=caption)

# %% [markdown]
# ## Observed vs simulated at the observed dates

# %%
at = path[path[design.arm] == design.arms[0]].set_index("date")
fit = observed.assign(
    simulated=[at["mean"].get(d, np.nan) for d in observed["date"]],
    interval_low=[at["ci_low"].get(d, np.nan) for d in observed["date"]],
    interval_high=[at["ci_high"].get(d, np.nan) for d in observed["date"]],
)
fit["relative_error"] = fit["simulated"] / fit["members"] - 1
columns = ["date", "members", "simulated", "interval_low", "interval_high", "relative_error"]
show_table(fit[columns], out / "observed_vs_simulated", floatfmt=".3g")
worst = fit.loc[fit["relative_error"].abs().idxmax()]
say(
    f"At the {len(fit)} observed dates the simulated membership ({notes.option(design.arm, design.arms[0])}) is off"
    f" by {100 * fit['relative_error'].abs().mean():.0f}% on average; the largest gap is in {worst['date']}"
    f" ({fmt_number(worst['simulated'], 'count')} simulated against {fmt_number(worst['members'], 'count')}"
    " observed). These points were calibration targets, so this is a check of the fit, not a validation"
    " (docs/VALIDATION.md compares outputs that were not fitted)."
)
