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
# # 12 vs 7 clusters over budget x staffing
#
# **Question.** Does the answer to "12 or 7 clusters?" depend on how much money the
# cluster managers get and how many people run the scheme?
#
# **Design** (`conf/experiment/budget_staffing_grid.yaml`, seed 2017): the 2016 reform
# against keeping 12, paired within each cell of funding (half, as in the practice, double
# the EUR 5M) x staffing (lean, 6/21 as in the practice, expanded), 10 pairs a cell.
# Produced by `make results` (`clustersim -m experiment=budget_staffing_grid`).

# %% tags=["parameters"]
sweep_dir = "results/sweeps/budget_staffing_grid"
out_dir = "results/budget_staffing"

# %%
from pathlib import Path

from clustersim.notebooks import markdown, write_table
from clustersim.report import ORDER, build_report, plot_heatmap

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
effects = build_report(sweep_dir)["effects"]
n_cells = effects[["funding", "staffing"]].drop_duplicates().shape[0]
print(f"{n_cells} cells, at least {int(effects['n_pairs'].min())} pairs each")

# %% [markdown]
# ## The reform's effect in each cell (reform minus 12, mean of the pairs)

# %%
KPIS = ["members", "ties_firm_firm", "research_collaborations", "international_collaborations", "projects_funded"]
tables = {}
for kpi in KPIS:
    t = effects[effects["kpi"] == kpi].pivot_table(index="staffing", columns="funding", values="difference")
    t = t.reindex(
        index=[s for s in ORDER["staffing"] if s in t.index], columns=[f for f in ORDER["funding"] if f in t.columns]
    )
    tables[kpi] = t
    write_table(t.reset_index(), out / f"effect_{kpi}")
    print(f"\n{kpi}\n" + markdown(t.reset_index()))

# %% [markdown]
# ## Where is the effect clear? (verdict per cell)

# %%
verdicts = effects[effects["kpi"].isin(KPIS)].pivot_table(
    index=["funding", "staffing"], columns="kpi", values="verdict", aggfunc="first"
)
write_table(verdicts.reset_index(), out / "verdicts")
print(markdown(verdicts.reset_index()))

# %%
for kpi in ("members", "ties_firm_firm", "research_collaborations", "international_collaborations"):
    plot_heatmap(effects, kpi, out / f"heatmap_{kpi}.png")
print(sorted(p.name for p in out.glob("*.png")))
