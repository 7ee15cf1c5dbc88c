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
# # Sensitivity: what decides whether 7 clusters beat 12
#
# **Question.** The headline effects rest on estimated and assumed behavioural parameters.
# Which of them decide the answer, and where in their plausible ranges does it turn
# around?
#
# Method (docs/SENSITIVITY.md): Morris screening of 18 free parameters, then Sobol indices
# for the five most influential, and scenario discovery (PRIM) on the sampled runs. Each
# design row runs both arms (12 kept, 2016 reform to 7) on the same seed; the output is
# the 7-minus-12 effect over the report window. Produced by `make results`
# (`clustersim -m experiment=sensitivity_morris`, then `experiment=sensitivity_sobol`).
# The sentences under the tables and figures are generated from the results.

# %% tags=["parameters"]
morris_dir = "results/sensitivity/morris"
sobol_dir = "results/sensitivity/sobol"
out_dir = "results/sensitivity_summary"

# %%
from pathlib import Path

import pandas as pd

from clustersim.labels import kpi_label, parameter_label
from clustersim.notebooks import say, show_figure, show_table
from clustersim.sensitivity import indices_figure, resolved, share_better_by

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
morris = pd.read_csv(Path(morris_dir) / "indices.csv")
sobol = pd.read_csv(Path(sobol_dir) / "indices.csv")
say(
    f"Morris: {morris['parameter'].nunique()} parameters; Sobol: {sobol['parameter'].nunique()} parameters"
    f" (read from `{morris_dir}` and `{sobol_dir}`)."
)

# %% [markdown]
# ## Screening: the three most influential parameters per effect (Morris mu*)

# %%
top = morris[morris["rank"] <= 3].sort_values(["output", "rank"])
shown = top.assign(
    effect=[kpi_label(k).title for k in top["output"]], parameter_name=[parameter_label(p) for p in top["parameter"]]
)[["effect", "rank", "parameter_name", "mu_star", "mu_star_conf", "sigma"]]
show_table(shown, out / "morris_top3", floatfmt=".3g")
outputs = list(dict.fromkeys(morris["output"]))
show_figure(
    indices_figure("morris", outputs, morris),
    out / "morris",
    caption="First-ranked parameter by effect: "
    + "; ".join(
        f"{kpi_label(k).title}: {parameter_label(first)}"
        for k, first in morris[morris["rank"] == 1].set_index("output")["parameter"].reindex(outputs).items()
    )
    + ". mu*: the mean size of the change of the effect when the parameter moves across its range; sigma: how much"
    " that change varies (non-linearity or interaction).",
)

# %% [markdown]
# ## Shares of variance (Sobol): first order S1 and total order ST
#
# A deterministic model's total-order indices sum to about 1. Sums far above 1 are the
# model's own noise (one replication per design row) read as interaction: those effects are
# unresolved and their indices do not rank the parameters.

# %%
wide = sobol.pivot_table(index="parameter", columns="output", values="ST")
show_table(wide.reset_index(), out / "sobol_total_order", floatfmt=".3g")
ok = resolved(sobol)
good = [k for k in ok.index if ok[k]]
bad = [k for k in ok.index if not ok[k]]
lines = []
for k in good:
    d = sobol[sobol["output"] == k].sort_values("ST", ascending=False).iloc[0]
    lines.append(
        f"{kpi_label(k).title}: resolved (ST sum to {sobol[sobol['output'] == k]['ST'].sum():.2f});"
        f" {parameter_label(d['parameter'])} explains {100 * d['S1']:.0f}% of the variance alone"
        f" and {100 * d['ST']:.0f}% with its interactions"
    )
if bad:
    lines.append(
        "unresolved (indices sum to "
        + ", ".join(f"{sobol[sobol['output'] == k]['ST'].sum():.1f}" for k in bad)
        + "): "
        + ", ".join(kpi_label(k).title for k in bad)
    )
show_figure(indices_figure("sobol", list(ok.index), sobol), out / "sobol", caption="; ".join(lines) + ".")

# %% [markdown]
# ## When does the effect change sign? (PRIM on the Sobol runs)
#
# `share_7_better`: the share of sampled parameter vectors where 7 clusters did better
# than 12. `conditions`: the box where the rarer outcome concentrates; `coverage`: the
# share of those cases inside the box; `density`: the share of the box's runs that are
# such cases.

# %%
disc = pd.read_csv(Path(sobol_dir) / "discovery.csv")
show_table(disc, out / "discovery", floatfmt=".2f")

# %% [markdown]
# ## The deciding parameter: how often 7 beats 12, by the fixed overhead per CMO
#
# The share of the Sobol rows in which 7 clusters did better than 12, in bins of the
# staff time each CMO spends on running itself, the other parameters varying over their
# ranges.

# %%
effects = pd.read_parquet(Path(sobol_dir) / "effects.parquet")
outputs = ["members", "cross_domain_share", "research_collaborations", "international_collaborations"]
key = "staffing.overhead_fte_per_cmo"
by_overhead = share_better_by(effects, outputs, key, [0.25, 0.5, 0.6, 0.9, 1.1, 1.3, 1.5])
show_table(by_overhead, out / "share_7_better_by_overhead", floatfmt=".2f")
share_cols = [c for c in by_overhead.columns if c in outputs]
if share_cols:
    first, last = by_overhead.iloc[0], by_overhead.iloc[-1]
    say(
        f"From the lowest to the highest band of {parameter_label(key).lower()}, the share of sampled cases where"
        " 7 clusters beat 12 moves: "
        + "; ".join(f"{kpi_label(k).title.lower()} {100 * first[k]:.0f}% to {100 * last[k]:.0f}%" for k in share_cols)
        + "."
    )
