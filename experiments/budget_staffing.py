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
# **Design** (`conf/experiment/budget_staffing_grid.yaml`): the 2016 reform against
# keeping 12, paired within each cell of funding (half, as in the practice, double the
# EUR 5M) x staffing (lean, 6/21 as in the practice, expanded). Produced by
# `make results` (`clustersim -m experiment=budget_staffing_grid`). The sentences under the
# tables and figures are generated from the results.

# %% tags=["parameters"]
sweep_dir = "results/sweeps/budget_staffing_grid"
out_dir = "results/budget_staffing"

# %%
from pathlib import Path

from clustersim.figures import grid_caption, heatmap_figure
from clustersim.labels import fmt_effect, kpi_label, load_notes
from clustersim.notebooks import say, show_figure, show_table, write_table
from clustersim.report import build_report

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
report = build_report(sweep_dir)
design, notes = report["design"], load_notes(report["context"].region)
effects = report["effects"]
rows, cols = "staffing", "funding"
contrast = design.contrasts[0]
effects = effects[effects["contrast"] == contrast.name]
n_cells = effects[[rows, cols]].drop_duplicates().shape[0]
say(
    f"**{contrast.description}**: {n_cells} cells of budget x staffing, at least"
    f" {int(effects['n_pairs'].min())} pairs each, report window {report['brief'].window} (read from `{sweep_dir}`)."
)

# %% [markdown]
# ## The reform's effect in each cell, with its 95% interval

# %%
KPIS = ["members", "ties_firm_firm", "research_collaborations", "international_collaborations", "projects_funded"]
for kpi in KPIS:
    t = effects[effects["kpi"] == kpi].copy()
    kind = kpi_label(kpi).kind
    t["effect"] = [fmt_effect(r.difference, r.ci_low, r.ci_high, kind) for r in t.itertuples()]
    wide = t.pivot_table(index=rows, columns=cols, values="effect", aggfunc="first")
    wide = wide.reindex(index=notes.order(rows, list(wide.index)), columns=notes.order(cols, list(wide.columns)))
    wide.index = [notes.option(rows, v, short=True) for v in wide.index]
    wide.columns = [notes.option(cols, v, short=True) for v in wide.columns]
    table = wide.rename_axis("staff \\ budget").reset_index()
    raw = t.pivot_table(index=rows, columns=cols, values="difference")
    raw = raw.reindex(index=notes.order(rows, list(raw.index)), columns=notes.order(cols, list(raw.columns)))
    write_table(raw.rename_axis(index=rows, columns=None).reset_index(), out / f"effect_{kpi}")
    show_table(table, out / f"effect_{kpi}_interval", caption=grid_caption(effects, kpi, rows, cols, notes))

# %% [markdown]
# ## Where is the effect clear? (verdict per cell)

# %%
verdicts = effects[effects["kpi"].isin(KPIS)].pivot_table(
    index=[cols, rows], columns="kpi", values="verdict", aggfunc="first"
)
verdicts = verdicts.reset_index()
verdicts[cols] = [notes.option(cols, v, short=True) for v in verdicts[cols]]
verdicts[rows] = [notes.option(rows, v, short=True) for v in verdicts[rows]]
verdicts = verdicts.rename(columns={k: kpi_label(k).title for k in KPIS})
show_table(verdicts, out / "verdicts")

# %% [markdown]
# ## Heatmaps

# %%
for kpi in ("members", "ties_firm_firm", "research_collaborations", "international_collaborations"):
    fig = heatmap_figure(effects, kpi, rows, cols, notes, contrast.description)
    show_figure(fig, out / f"heatmap_{kpi}", caption=grid_caption(effects, kpi, rows, cols, notes))
