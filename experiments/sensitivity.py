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
# Method (docs/SENSITIVITY.md): Morris screening of the free parameters, then Sobol indices
# for the five most influential (Saltelli's, and those of the effects' systematic part
# from a polynomial chaos emulator), and scenario discovery (PRIM) on the sampled runs. Each
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
from clustersim.sensitivity import emulator_figure, indices_figure, resolved, share_better_by

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
# ## Shares of variance: the systematic part of each effect (Sobol indices of an emulator)
#
# One run is one random history, so a design row's effect is the parameters' effect plus
# replication noise. A polynomial chaos emulator separates the two: `explained` is the
# share of the effect's variance that the parameters explain (cross-validated), and the
# indices (with 95% intervals) decompose that share: first order S1 (a parameter alone)
# and total order ST (with its interactions).

# %%
emulator_path = Path(sobol_dir) / "emulator.csv"
if emulator_path.exists():
    emulated = pd.read_csv(emulator_path)
    rows = []
    for k, g in emulated.groupby("output", sort=False):
        row = {"effect": kpi_label(k).title, "explained": f"{g['r2_cv'].iloc[0]:.0%}"}
        for r in g.itertuples():
            row[parameter_label(r.parameter)] = f"{r.ST:.2f} [{r.ST_low:.2f}, {r.ST_high:.2f}]"
        rows.append(row)
    show_table(pd.DataFrame(rows), out / "emulator_total_order")
    em_outputs = list(dict.fromkeys(emulated["output"]))
    firsts = []
    for k in em_outputs:
        g = emulated[emulated["output"] == k].sort_values("ST", ascending=False).iloc[0]
        firsts.append(f"{kpi_label(k).title.lower()}: {parameter_label(g['parameter']).lower()} ({g['ST']:.2f})")
    n_ok = int(emulated.groupby("output")["resolved"].first().sum())
    show_figure(
        emulator_figure(em_outputs, emulated),
        out / "emulator",
        caption=f"{n_ok} of {len(em_outputs)} effects resolved to +-0.1. First by total-order index: "
        + "; ".join(firsts)
        + ".",
    )
    if "ST_run" in emulated.columns:
        # the same variances as shares of one run's variance, the random seed counted as an input
        rows = []
        for k, g in emulated.groupby("output", sort=False):
            top = g.iloc[0]
            seed = f"{top['seed_share']:.2f} [{top['seed_share_low']:.2f}, {top['seed_share_high']:.2f}]"
            row = {"effect": kpi_label(k).title, "the seed": seed}
            for r in g.itertuples():
                row[parameter_label(r.parameter)] = f"{r.ST_run:.2f} [{r.ST_run_low:.2f}, {r.ST_run_high:.2f}]"
            rows.append(row)
        show_table(pd.DataFrame(rows), out / "emulator_one_run")
        n_run = int(emulated.groupby("output")["resolved_run"].first().sum())
        say(
            f"As shares of one run's variance (the seed counted as one more input), {n_run} of "
            f"{len(em_outputs)} effects have every index within +-0.1; the seed's share ranges from "
            f"{emulated['seed_share'].min():.0%} to {emulated['seed_share'].max():.0%}."
        )
else:
    say(f"No emulator indices in `{sobol_dir}` (too few design rows for the emulator).")

# %% [markdown]
# ## Saltelli's estimators on the same runs
#
# The classic estimators decompose the row effects as they are, noise included: noise is
# read as interaction, so total-order indices sum to more than 1. An effect is resolved by
# them when its ST sum to at most 1.5 and no interval is wider than +-0.5.

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
# ## The deciding parameters: how often 7 beats 12, by set-up time and by overhead
#
# The share of the Sobol rows in which 7 clusters did better than 12, in five equal bands
# of each parameter's sampled range, the other parameters varying over their ranges.

# %%
effects = pd.read_parquet(Path(sobol_dir) / "effects.parquet")
outputs = [
    k
    for k in (
        "members",
        "ties_firm_firm",
        "cross_domain_share",
        "research_collaborations",
        "international_collaborations",
    )
    if k in effects.columns
]
for key, name in (("staffing.setup_months", "setup_months"), ("staffing.overhead_fte_per_cmo", "overhead")):
    if key not in effects.columns:
        continue
    lo, hi = float(effects[key].min()), float(effects[key].max())
    edges = [round(lo + (hi - lo) * i / 5, 3) for i in range(5)] + [hi]  # the last band is closed
    table = share_better_by(effects, outputs, key, edges)
    table = table[table["rows"] > 0] if "rows" in table.columns else table
    show_table(table, out / f"share_7_better_by_{name}", floatfmt=".2f")
    share_cols = [c for c in table.columns if c in outputs]
    if share_cols and len(table):
        first, last = table.iloc[0], table.iloc[-1]
        say(
            f"From the lowest to the highest band of {parameter_label(key).lower()}, the share of sampled cases"
            " where 7 clusters beat 12 moves: "
            + "; ".join(
                f"{kpi_label(k).title.lower()} {100 * first[k]:.0f}% to {100 * last[k]:.0f}%" for k in share_cols
            )
            + "."
        )
