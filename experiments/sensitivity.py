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
# the 7-minus-12 effect over 2016-2020. Produced by `make results`
# (`clustersim -m experiment=sensitivity_morris`, then `experiment=sensitivity_sobol`).

# %% tags=["parameters"]
morris_dir = "results/sensitivity/morris"
sobol_dir = "results/sensitivity/sobol"
out_dir = "results/sensitivity_summary"

# %%
from pathlib import Path

import pandas as pd

from clustersim.notebooks import markdown, write_table
from clustersim.sensitivity import share_better_by

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
morris = pd.read_csv(Path(morris_dir) / "indices.csv")
sobol = pd.read_csv(Path(sobol_dir) / "indices.csv")
print(f"Morris: {morris['parameter'].nunique()} parameters; Sobol: {sobol['parameter'].nunique()} parameters")

# %% [markdown]
# ## Screening: the three most influential parameters per effect (Morris mu*)

# %%
top = morris[morris["rank"] <= 3].sort_values(["output", "rank"])
write_table(top[["output", "rank", "parameter", "mu_star", "mu_star_conf", "sigma"]], out / "morris_top3")
print(markdown(top[["output", "rank", "parameter", "mu_star", "mu_star_conf", "sigma"]]))

# %% [markdown]
# ## Shares of variance (Sobol): first order S1 and total order ST

# %%
wide = sobol.pivot_table(index="parameter", columns="output", values="ST")
write_table(wide.reset_index(), out / "sobol_total_order")
print(markdown(wide.reset_index()))

# %% [markdown]
# ## When does the effect change sign? (PRIM on the Sobol runs)
#
# `share_7_better`: the share of sampled parameter vectors where 7 clusters did better
# than 12. `conditions`: the box where the rarer outcome concentrates; `coverage`: the
# share of those cases inside the box; `density`: the share of the box's runs that are
# such cases.

# %%
disc = pd.read_csv(Path(sobol_dir) / "discovery.csv")
write_table(disc, out / "discovery", floatfmt=".2f")
print(markdown(disc, ".2f"))

# %% [markdown]
# ## The deciding parameter: how often 7 beats 12, by the fixed overhead per CMO
#
# The share of the Sobol rows in which 7 clusters did better than 12, in bins of the
# staff time each CMO spends on running itself (assumed 0.75 FTE), the other parameters
# varying over their ranges.

# %%
effects = pd.read_parquet(Path(sobol_dir) / "effects.parquet")
outputs = ["members", "cross_domain_share", "research_collaborations", "international_collaborations"]
by_overhead = share_better_by(effects, outputs, "staffing.overhead_fte_per_cmo", [0.25, 0.5, 0.6, 0.9, 1.1, 1.3, 1.5])
write_table(by_overhead, out / "share_7_better_by_overhead", floatfmt=".2f")
print(markdown(by_overhead, ".2f"))
