"""Reports of any sweep: labels, the design read from the runs, the brief, and the commands end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clustersim.comparison import ReportError, compute_effects, resolve_design
from clustersim.labels import (
    KPI_LABELS,
    default_choices,
    effect_phrase,
    fmt_effect,
    fmt_number,
    load_notes,
    missing_labels,
)
from clustersim.metrics import KPIS

BIN = Path(sys.executable).parent
# a short window that still contains the reform (2016-09) and the 2017-2018 calls
FAST = ["population=small", "start=2015-06", "end=2018-06", "report_start=2016-09", "hydra/launcher=basic"]


# --------------------------------------------------------------------------- labels
def test_every_kpi_has_a_human_label() -> None:
    assert missing_labels() == []
    assert all(label.title and label.noun for label in KPI_LABELS.values())
    assert {k.name for k in KPIS} <= set(KPI_LABELS)


def test_effects_in_words_with_size_and_interval() -> None:
    assert effect_phrase("members", 150.2, 140.1, 160.3) == "about 150 more member firms (140 to 160)"
    assert effect_phrase("international_collaborations", -17.5, -23.7, -11.2) == (
        "about 18 fewer new international collaborations (11 to 24)"
    )
    assert (
        effect_phrase("training_agreements", -4.13, -4.37, -3.9)
        == "about 4.13 fewer training agreements (3.90 to 4.37)"
    )
    assert "between 13 fewer and 10 more" in effect_phrase("research_collaborations", -1.2, -12.8, 10.4)
    share = effect_phrase("cross_domain_share", 0.114, 0.107, 0.121)
    assert share == "a share of new collaborations across sectors 11.4 points higher (10.7 to 12.1 points)"


def test_euros_are_never_in_scientific_notation() -> None:
    assert fmt_number(-6321.4, "eur") == "EUR -6,321"
    assert fmt_number(75_000_000, "eur") == "EUR 75.0M"
    assert fmt_effect(-6321, -7606, -5035, "eur") == "-EUR 6,300 [-EUR 7,600 to -EUR 5,000]"
    assert "e+" not in fmt_effect(66_444, -2.5e6, 2.6e6, "eur")


def test_option_labels_come_from_the_regions_file() -> None:
    notes = load_notes("piedmont")
    assert notes.option("funding", "erdf_5m").startswith("EUR 5M")
    assert notes.option("clusters", "unheard_of") == "unheard_of"  # an unknown option keeps its id
    assert notes.order("staffing", ["expanded", "lean", "zzz", "setup6_run21"]) == [
        "lean",
        "setup6_run21",
        "expanded",
        "zzz",
    ]
    caveats, deciding = notes.relevant(["turnover_growth_gap_pp"])
    assert caveats[0].title == "The growth benefit of membership rests on one evaluation" and deciding == []
    for note in notes.caveats + notes.deciding_inputs:  # every link points at a document section that exists
        path, _, anchor = note.link.partition("#")
        doc = Path(__file__).resolve().parents[1] / path
        headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", doc.read_text(), flags=re.M)}
        assert anchor in headings, note.link
    assert load_notes("atlantis").option("clusters", "twelve") == "twelve"
    assert default_choices()["funding"] == "erdf_5m"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# --------------------------------------------------------------------------- design
def _wide(arms: list[str], reps: int = 3, **cols: list[str]) -> pd.DataFrame:
    rows = []
    for a in arms:
        for r in range(reps):
            for extra in _product(cols):
                rows.append({"clusters": a, "seed": 0, "replication": r, **extra, "members": 100.0 + r + len(a)})
    return pd.DataFrame(rows)


def _product(cols: dict[str, list[str]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = [{}]
    for k, values in cols.items():
        out = [{**o, k: v} for o in out for v in values]
    return out


NOTES = load_notes("piedmont")
SPEC = {"arm": "clusters", "baseline": "twelve", "treatment": "reform", "pairing": "common", "by": []}


def test_two_arms_that_are_not_the_specs_are_compared_with_the_baseline() -> None:
    d = resolve_design(SPEC, _wide(["seven", "twelve"]), NOTES, ["clusters", "seed", "replication"])
    assert [(c.treatment, c.baseline) for c in d.contrasts] == [("seven", "twelve")]
    assert d.contrasts[0].description == "7 clusters from 2009 instead of 12 clusters kept"


def test_a_swept_column_makes_cells() -> None:
    wide = _wide(["twelve", "seven"], staffing=["lean", "setup6_run21"])
    d = resolve_design(SPEC, wide, NOTES, ["clusters", "staffing", "seed", "replication"])
    assert d.by == ["staffing"] and "staffing" in d.pair_on
    effects = compute_effects(d, wide, ["members"])
    assert sorted(effects["staffing"]) == ["lean", "setup6_run21"] and (effects["n_pairs"] == 3).all()


def test_named_contrasts_over_three_arms() -> None:
    spec = {
        **SPEC,
        "contrasts": [
            {"name": "total", "treatment": "reform", "baseline": "twelve", "description": "the whole reform"},
            {"name": "relaunch", "treatment": "twelve_retender", "baseline": "twelve"},
            {"name": "merger", "treatment": "reform", "baseline": "twelve_retender"},
        ],
    }
    wide = _wide(["twelve", "twelve_retender", "reform"])
    d = resolve_design(spec, wide, NOTES, ["clusters", "seed", "replication"])
    assert [c.name for c in d.contrasts] == ["total", "relaunch", "merger"]
    assert d.contrasts[0].description == "the whole reform"
    assert d.contrasts[2].description == "12 merged into 7 in 2016 instead of 12 clusters re-tendered in 2016"
    effects = compute_effects(d, wide, ["members"]).set_index("contrast")["difference"]
    assert effects["total"] == pytest.approx(effects["relaunch"] + effects["merger"])  # the parts add up
    partial = resolve_design(spec, _wide(["twelve", "reform"]), NOTES, ["clusters", "seed", "replication"])
    assert [c.name for c in partial.contrasts] == ["total"]
    assert any("relaunch" in r and "was not run" in r for r in partial.remarks)


def test_one_arm_is_a_distribution() -> None:
    d = resolve_design(SPEC, _wide(["twelve"]), NOTES, ["clusters", "seed", "replication"])
    assert not d.is_comparison and d.arms == ["twelve"]


def test_arms_without_a_common_replication_cannot_be_compared() -> None:
    wide = _wide(["twelve", "seven"])
    wide.loc[wide["clusters"] == "seven", "seed"] = 1
    d = resolve_design(SPEC, wide, NOTES, ["clusters", "seed", "replication"])
    with pytest.raises(ReportError, match="no comparison can be formed"):
        compute_effects(d, wide, ["members"])
    with pytest.raises(ReportError, match="no complete run"):
        resolve_design(SPEC, wide.iloc[0:0], NOTES, [])


# ---------------------------------------------------------------------- end to end
def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "clustersim"), "-m", *args, *FAST, f"hydra.sweep.dir={tmp / 'sweep'}"]
    return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)


def report(tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "clustersim-report"), str(tmp / "sweep")], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_a_custom_sweep_gets_a_grid_report(tmp_path: Path) -> None:
    """The sweep of the issue: two arms the experiment does not name, and a second swept group."""
    proc = run(tmp_path, "clusters=twelve,seven", "staffing=lean,setup6_run21", "replication=range(0,2)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "raised" not in proc.stderr and "Traceback" not in proc.stderr
    out = tmp_path / "sweep"
    effects = pd.read_csv(out / "effects.csv")
    assert (effects["n_pairs"] == 2).all() and set(effects["treatment"]) == {"seven"}
    assert sorted(effects["staffing"].unique()) == ["lean", "setup6_run21"]
    md = (out / "report.md").read_text()
    assert md.startswith("# 7 clusters from 2009 vs 12 clusters kept")
    assert "7 clusters from 2009 instead of 12 clusters kept" in proc.stdout  # the brief, in the terminal
    assert "For 6 set-up, 21 running staff (as in practice) (every cell" in md  # the cell the brief is about
    assert "Report window:** 2016-09 to 2018-06" in md
    money = md[md.index("**Money per arm**") :]
    assert "| Arm | Allocated | Spent | Left |" in money and "EUR" in money and "e+" not in money
    assert "Allocated = spent + left in every run, to the cent." in md
    assert "[more](" in md and "VALIDATION.md#where-the-model-is-off-and-why" in md
    again = report(tmp_path)  # and clustersim-report rebuilds it
    assert again.returncode == 0 and "Traceback" not in again.stderr
    assert pd.read_csv(out / "effects.csv").equals(effects)


def test_named_contrasts_from_the_command_line(tmp_path: Path) -> None:
    contrasts = (
        "comparison.contrasts=[{name:merge_late,treatment:reform,baseline:twelve,description:'merging in 2016'},"
        "{name:early_vs_late,treatment:seven,baseline:reform,description:''}]"
    )
    proc = run(tmp_path, "clusters=twelve,seven,reform", "replication=range(0,2)", contrasts)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    effects = pd.read_csv(tmp_path / "sweep" / "effects.csv")
    assert list(effects["contrast"].unique()) == ["merge_late", "early_vs_late"]
    md = (tmp_path / "sweep" / "report.md").read_text()
    assert "**Merging in 2016** (2 paired replications" in md
    assert "7 clusters from 2009 instead of 12 merged into 7 in 2016" in md
    assert (tmp_path / "sweep" / "figures" / "forest_merge_late.svg").is_file()


def test_one_arm_gets_a_distribution_report(tmp_path: Path) -> None:
    proc = run(tmp_path, "clusters=twelve", "replication=range(0,3)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "raised" not in proc.stderr
    dist = pd.read_csv(tmp_path / "sweep" / "distribution.csv")
    members = dist.set_index("kpi").loc["members"]
    assert members["n_runs"] == 3 and members["ci_low"] <= members["mean"] <= members["ci_high"]
    assert not (tmp_path / "sweep" / "effects.csv").exists()
    md = (tmp_path / "sweep" / "report.md").read_text()
    assert "One scenario only: nothing is compared" in md and "95% of replications" in md


@pytest.mark.slow
def test_arms_that_cannot_be_paired_give_one_line_and_status_1(tmp_path: Path) -> None:
    first = run(tmp_path, "clusters=twelve", "seed=1", "replication=0,1")
    assert first.returncode == 0, first.stderr
    second = run(tmp_path, "clusters=seven", "seed=2", "replication=0,1")  # same folder, other seed
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("clustersim: error: no comparison can be formed: the arms")
    assert "no pairs (the same seed and replication in both arms) in common" in errors[0]
    assert "Traceback" not in second.stderr and "raised" not in second.stderr
    rep = report(tmp_path)
    assert rep.returncode == 1 and rep.stderr.startswith("clustersim-report: error: no comparison can be formed")
    assert "Traceback" not in rep.stderr


def test_clustersim_report_never_shows_a_traceback(tmp_path: Path) -> None:
    proc = run(tmp_path, "clusters=twelve,reform", "replication=0,1")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "sweep" / "runs.parquet").write_text("not parquet")  # a damaged merged table is rebuilt
    (tmp_path / "sweep" / "experiment.yaml").write_text("arm: [unclosed")  # a damaged spec is one line
    rep = report(tmp_path)
    assert rep.returncode != 0 and "Traceback" not in rep.stderr
    assert len(rep.stderr.strip().splitlines()) == 1 and rep.stderr.startswith("clustersim-report: error:")


def _monthly_of_replications(n_runs: int, months: int = 30, seed: int = 7) -> pd.DataFrame:
    """A long monthly table of ``n_runs`` replications of two arms (values with ties and spread)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for arm in ("twelve", "reform"):
        for r in range(n_runs):
            for m in range(months):
                value = float(rng.integers(0, 5)) if m % 3 else float(rng.normal(100, 20))
                rows.append((f"{arm}-{r}", m, f"{2016 + m // 12}-{m % 12 + 1:02d}", "members", value, arm))
    # rows not in month order, as a merged table may hold them
    table = pd.DataFrame(rows, columns=["run", "month", "date", "kpi", "value", "clusters"])
    return table.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("n_runs", [2, 3, 30])
def test_series_bands_computed_at_once_equal_month_by_month(n_runs: int) -> None:
    """All months at once give the bits of one month at a time (mean, t interval, replications' range)."""
    from clustersim import stats
    from clustersim.figures import series_bands

    monthly = _monthly_of_replications(n_runs)
    bands = series_bands(monthly, "members", "clusters", "reform")
    t = monthly[(monthly["kpi"] == "members") & (monthly["clusters"] == "reform")].sort_values("month")
    assert list(bands["date"]) == sorted(t["date"].unique())
    for row, (date, g) in zip(bands.itertuples(), t.groupby("date", sort=True), strict=True):
        iv = stats.mean_interval(g["value"].to_numpy())
        lo, hi = stats.replication_range(g["value"].to_numpy())
        assert row.date == date
        assert (row.mean, row.ci_low, row.ci_high, row.range_low, row.range_high, row.n) == (
            iv.estimate,
            iv.low,
            iv.high,
            lo,
            hi,
            iv.n,
        )


def test_series_bands_with_a_missing_value_skip_it_in_its_month_only() -> None:
    """A month with a non-finite value is computed on its finite values; the others as usual."""
    from clustersim.figures import series_bands

    monthly = _monthly_of_replications(5)
    hole = monthly.index[(monthly["clusters"] == "reform") & (monthly["month"] == 4)][0]
    monthly.loc[hole, "value"] = float("nan")
    bands = series_bands(monthly, "members", "clusters", "reform").set_index("date")
    assert bands["n"].to_dict()["2016-05"] == 4
    assert (bands["n"].drop("2016-05") == 5).all()
    assert bands[["mean", "ci_low", "ci_high", "range_low", "range_high"]].notna().all().all()
