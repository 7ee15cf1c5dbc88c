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
# # 12 vs 7 clusters: the headline comparison
#
# **Question.** What did merging Piedmont's 12 innovation clusters into 7 in 2016 do to
# cooperation, research collaboration, internationalisation and innovation, with the
# practice's EUR 5M of ERDF money for the cluster managers and 6/21 staff?
#
# **Design** (`conf/experiment/twelve_vs_seven.yaml`, seed 2016): each replication lives one
# history from 2009 under the 12 poles; at the reform date (2016-09) one arm keeps 12
# clusters and the other merges into 7. The two arms share every draw up to the reform, so
# each pair's difference is the effect of the reform. Effects are over the report window
# 2016-2020 (reform minus 12), with 95% t intervals over the pairs.
#
# Produced by `make results` (the sweep: `clustersim -m experiment=twelve_vs_seven`). This
# notebook only reads the saved sweep; the model and the statistics live in the package.

# %% tags=["parameters"]
sweep_dir = "results/sweeps/twelve_vs_seven"
out_dir = "results/headline"

# %%
from pathlib import Path

from clustersim.notebooks import markdown, write_table
from clustersim.report import HEADLINE, build_report, plot_forest, plot_series
from clustersim.sweep import experiment_spec, read_sweep

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
report = build_report(sweep_dir)  # paired effects from the merged runs (merges them if needed)
spec = experiment_spec(Path(sweep_dir))
effects = report["effects"]
n_pairs = int(effects["n_pairs"].max())
print(f"{spec['title']}: {n_pairs} pairs")

# %% [markdown]
# ## The headline table
#
# "better" / "worse" read each KPI's direction (more members, more collaborations, a higher
# cross-domain share are better); "no clear difference" when the 95% interval contains 0.

# %%
table = report["table"]
write_table(table, out / "headline_table")
write_table(effects, out / "effects")
print(markdown(table))

# %% [markdown]
# ## Effects with their uncertainty, and the paths of both arms

# %%
headline = effects[effects["kpi"].isin(HEADLINE)]
plot_forest(headline, spec["baseline"], out / "forest.png")
data = read_sweep(Path(sweep_dir))
plot_series(data["monthly"], spec["arm"], [spec["baseline"], spec["treatment"]], out / "series.png")
print(sorted(p.name for p in out.glob("*.png")))

# %% [markdown]
# ## In plain words
#
# The sentences below are generated from the table, so they stay true when it changes.

# %%
words = {"better": "improves", "worse": "worsens", "no clear difference": "shows no clear change in"}
lines = []
for row in headline.itertuples():
    rel = f" ({100 * row.relative:+.0f}%)" if row.relative == row.relative else ""
    lines.append(
        f"- The reform {words.get(row.verdict, 'changes')} **{row.kpi}**: {row.difference:+,.3g}{rel}, "
        f"95% CI [{row.ci_low:,.3g}, {row.ci_high:,.3g}]."
    )
summary = "\n".join(lines)
(out / "summary.md").write_text(summary + "\n")
print(summary)
