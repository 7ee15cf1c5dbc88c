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
# **Design** (`conf/experiment/twelve_vs_seven.yaml`): each replication lives one history
# from 2009 under the 12 poles; at the reform date one arm keeps 12 clusters and the other
# merges into 7. The two arms share every random draw up to the reform, so each pair's
# difference is the effect of the reform. Produced by `make results` (the sweep:
# `clustersim -m experiment=twelve_vs_seven`); this notebook only reads the saved sweep,
# and every sentence below the tables and figures is generated from the results.

# %% tags=["parameters"]
sweep_dir = "results/sweeps/twelve_vs_seven"
out_dir = "results/headline"

# %%
from pathlib import Path

from clustersim.figures import effect_caption, forest_figure, series_caption, series_figure
from clustersim.labels import ERDF, HEADLINE, SERIES, doc_link, load_notes
from clustersim.notebooks import say, show_figure, show_table, write_table
from clustersim.report import build_report, effects_table
from clustersim.sweep import read_sweep

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
report = build_report(sweep_dir)  # paired effects from the merged runs (merges them if needed)
design, brief, ctx = report["design"], report["brief"], report["context"]
notes = load_notes(ctx.region)
effects = report["effects"]
write_table(effects, out / "effects")
say(
    f"**{design.title}** ({int(effects['n_pairs'].max())} pairs, report window {brief.window};"
    f" read from `{sweep_dir}`)."
)

# %% [markdown]
# ## In brief

# %%
say("\n\n".join(brief.paragraphs))
show_table(brief.money, out / "money", caption=brief.money_note)
caveats, deciding = notes.relevant(list(HEADLINE))


def items(notes_: list) -> str:
    return "\n".join(f"- **{n.title}.** {n.text} [more]({doc_link(n.link, out)})" for n in notes_)


say(f"**Caveats that matter:**\n\n{items(caveats)}\n\n**What decides the answer:**\n\n{items(deciding)}")
_ = (out / "summary.md").write_text("\n\n".join(brief.paragraphs) + "\n")

# %% [markdown]
# ## The headline table
#
# "better" / "worse": the difference is clear once the number of indicators tested is
# accounted for (Holm); "possibly": only the indicator's own 95% interval excludes no
# change; "no clear difference" otherwise.

# %%
contrast = design.contrasts[0]
eff = effects[effects["contrast"] == contrast.name]
table = effects_table(eff, HEADLINE, notes, design.arm)
show_table(table, out / "headline_table", caption=f"{contrast.description}, report window {brief.window}")
show_table(effects_table(eff, ERDF, notes, design.arm), out / "erdf_table", caption="ERDF common indicators")

# %% [markdown]
# ## Effects with their uncertainty, each in its own unit

# %%
rated = eff[eff["kpi"].isin(HEADLINE + ERDF) & (eff["duplicate_of"] == "")]
rated = rated.set_index("kpi").reindex([k for k in HEADLINE + ERDF if k in set(rated["kpi"])]).reset_index()
fig = forest_figure(rated, f"{contrast.description} (report window {brief.window})")
show_figure(fig, out / "forest", caption=effect_caption(rated))

# %% [markdown]
# ## The paths of both arms, month by month

# %%
monthly = read_sweep(Path(sweep_dir))["monthly"]
spans = [s for a in design.arms for s in ctx.spans.get(a, [])]
fig = series_figure(monthly, design.arm, design.arms, notes, SERIES, spans)
show_figure(fig, out / "series", caption=series_caption(monthly, design.arm, design.arms, notes, spans, SERIES))
