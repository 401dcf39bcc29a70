"""The registry is the one list of checks: the contract ids it must hold, the checks page
(docs/checks.md) generated from it, and the shape every check keeps (measure, then grade, in at most
60 lines). No Keras, no MLflow."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from textwrap import dedent

import pytest

from mlflow_sanity.checks import REGISTRY, catalog
from mlflow_sanity.checks.registry import Check

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "checks.md"
MAX_CHECK_LINES = 60

# The finding ids of DESIGN.md's "Finding ids" table, in its order: a public contract
# (tags ``sanity.finding.<id>``, thresholds and ``disable`` keys, external acceptance
# checks). This pins the contract, it does not copy the registry: the registry must hold
# every one of them and may hold more.
DESIGN_FINDING_IDS = (
    "single_class_eval",
    "class_imbalance",
    "prediction_collapse",
    "minority_class_missed",
    "accuracy_at_baseline",
    "small_eval_set",
    "perfect_score",
    "train_test_overlap",
    "preprocessing_leakage",
    "feature_target_leakage",
    "eval_is_train",
    "validation_reuse",
    "label_shift",
    "overfitting",
    "loss_output_mismatch",
    "hidden_softmax",
    "logits_thresholded",
    "metric_disagreement",
    "loss_accuracy_divergence",
    "class_weight_ignored",
    "seed_variance",
    "nondeterminism",
    "uncalibrated",
    "duplicate_eval_rows",
    "unscaled_inputs",
    "non_finite_loss",
    "learning_rate",
    "dead_units",
    "vanishing_gradients",
    "undertrained",
    "invalid_labels",
)


def test_the_registry_holds_every_finding_id_design_names():
    missing = [cid for cid in DESIGN_FINDING_IDS if cid not in REGISTRY]
    assert not missing, f"DESIGN.md's finding ids must stay registered: {missing}"


def _function_lines(chk: Check) -> int:
    """Lines of the check's ``def`` through its last statement, docstring included
    (decorator excluded), read from the module's syntax tree."""
    fn = inspect.unwrap(chk.fn)
    tree = ast.parse(Path(inspect.getsourcefile(fn)).read_text(encoding="utf-8"))
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn.__name__]
    assert len(nodes) == 1, f"{chk.id}: {fn.__name__} is not one module-level function"
    return nodes[0].end_lineno - nodes[0].lineno + 1


def test_every_registered_check_function_is_at_most_60_lines():
    lengths = {cid: _function_lines(chk) for cid, chk in REGISTRY.items()}
    assert len(lengths) == len(REGISTRY) and min(lengths.values()) > 3
    long = {cid: n for cid, n in lengths.items() if n > MAX_CHECK_LINES}
    assert not long, (
        f"check functions over {MAX_CHECK_LINES} lines: {long}; move the measuring into a "
        "helper that returns a small typed measurement and keep the grading in the check"
    )


def test_the_line_count_reads_the_function_not_the_decorator():
    source = dedent(
        '''
        @check("x", requires=["eval"], remedy="r")
        def long_check(ctx, t):
            """Doc."""
            a = 1
            return a
        '''
    )
    node = ast.parse(source).body[0]
    assert node.end_lineno - node.lineno + 1 == 4


def test_the_checks_page_is_what_the_registry_generates():
    text = PAGE.read_text(encoding="utf-8")
    assert text.count("<!-- checks:") == 2 * text.count(catalog.END) >= 4
    assert not catalog.stale_tables(PAGE), f"docs/checks.md is stale: run {catalog.REGENERATE}"
    listed = {cid for cid in REGISTRY if f"| [`{cid}`](#{cid}) |" in text}
    assert listed == set(REGISTRY), f"checks missing from the table: {set(REGISTRY) - listed}"
    entries = {cid for cid in REGISTRY if f"### `{cid}`" in text}
    assert entries == set(REGISTRY), f"checks without an entry: {set(REGISTRY) - entries}"


def test_the_readme_without_tables_stands_for_the_checks_page(tmp_path):
    """Helpers and scripts still run ``--check README.md``: the tables moved to the site."""
    (tmp_path / "docs").mkdir()
    readme = tmp_path / "README.md"
    readme.write_text("# a front door, no tables\n")
    page = tmp_path / "docs" / "checks.md"
    page.write_text("<!-- checks:begin themes=variance -->\n| stale |\n<!-- checks:end -->\n")
    assert catalog.target(readme) == page
    assert catalog.main(["--check", str(readme)]) == 1
    assert catalog.main(["--write", str(readme)]) == 0
    assert "`nondeterminism`" in page.read_text() and readme.read_text().startswith("# a front")
    assert catalog.main(["--check", str(readme)]) == 0


def test_an_entry_says_trigger_thresholds_how_to_change_them_remedy_and_an_example():
    entry = catalog.details(["imbalance"]).split("### ")
    collapse = next(e for e in entry if e.startswith("`prediction_collapse`"))
    chk = REGISTRY["prediction_collapse"]
    assert chk.flags in collapse and chk.remedy in collapse
    assert '`thresholds={"prediction_collapse": {"warn_share": 0.95}}`' in collapse
    assert "`--threshold prediction_collapse.warn_share=0.95`" in collapse
    # the example is a real message of the check, produced by running it
    assert "```text\n[fail] The model predicts '0' for all 200 rows" in collapse
    single = next(e for e in entry if e.startswith("`single_class_eval`"))
    assert "Default thresholds" not in single  # it has none


def test_examples_come_from_running_the_checks_and_flag_each_one():
    examples = catalog.examples()
    assert {"prediction_collapse", "accuracy_at_baseline", "single_class_eval"} <= set(examples)
    leakage = {
        "train_test_overlap",
        "eval_is_train",
        "preprocessing_leakage",
        "duplicate_eval_rows",
    }
    assert leakage <= set(examples)
    assert all(m.startswith(("[fail] ", "[warn] ", "[info] ")) for m in examples.values())


def test_every_check_says_what_it_flags():
    for cid, chk in REGISTRY.items():
        assert chk.flags, f"{cid}: give @check a flags= text"


def test_a_row_shows_flags_needs_thresholds_and_the_cause_rule():
    row = next(r for r in catalog.markdown_table(["causes"]).splitlines() if "`undertrained`" in r)
    chk = REGISTRY["undertrained"]
    assert chk.flags in row and catalog.NEEDS_SYMPTOM in row
    assert "| `fit`, `history` |" in row
    assert "`min_updates=50`" in row and "`baseline_margin=0.02`" in row
    row = next(
        r for r in catalog.markdown_table(["leakage"]).splitlines() if "`train_test_overlap`" in r
    )
    assert "`test` + one of `train` / `fingerprint`" in row
    assert catalog.NEEDS_SYMPTOM not in row
    assert "| — |" in catalog.markdown_table(["variance", "keras_config"])  # no thresholds


def test_tables_follow_the_theme_order_and_add_a_theme_column_for_several():
    one = catalog.markdown_table(["variance"]).splitlines()
    assert one[0].startswith("| id |") and one[0].endswith("| flags | needs | default thresholds |")
    assert "theme" not in one[0]
    ids = [r.split(" | ")[0] for r in one[2:]]
    assert ids == ["| [`seed_variance`](#seed_variance)", "| [`nondeterminism`](#nondeterminism)"]
    two = catalog.markdown_table(["variance", "imbalance"]).splitlines()
    assert two[0].startswith("| id | theme |")
    assert two[2].startswith("| [`seed_variance`](#seed_variance) | variance |")
    assert len(catalog.markdown_table().splitlines()) == len(REGISTRY) + 2
    with pytest.raises(ValueError, match="unknown check theme"):
        catalog.markdown_table(["nope"])


def test_render_rewrites_only_between_the_markers():
    text = (
        "intro\n<!-- checks:begin themes=variance -->\nold table\n<!-- checks:end -->\n"
        "middle\n<!-- checks:begin -->\n<!-- checks:end -->\n"
        "<!-- checks:details themes=variance -->\nold entries\n<!-- checks:end -->\nend\n"
    )
    out = catalog.render(text)
    assert out.startswith("intro\n<!-- checks:begin themes=variance -->\n| id | tasks | flags |")
    assert "old table" not in out and "\nmiddle\n" in out and out.endswith("end\n")
    assert out.count("[`seed_variance`]") == 2  # the variance table and the full one
    assert "old entries" not in out and "### `nondeterminism`" in out
    assert catalog.render(out) == out
    with pytest.raises(ValueError, match="has no"):
        catalog.render("<!-- checks:begin -->\nno end")


def test_check_command_fails_on_a_stale_readme_and_write_fixes_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- checks:begin themes=variance -->\n| stale |\n<!-- checks:end -->\n")
    assert catalog.main(["--check", str(readme)]) == 1
    assert "make docs" in capsys.readouterr().err
    assert catalog.main(["--write", str(readme)]) == 0
    assert catalog.main(["--check", str(readme)]) == 0
    assert catalog.main(["--markdown", "--themes", "variance"]) == 0
    assert "`nondeterminism`" in capsys.readouterr().out


def test_rows_and_entries_name_the_tasks_a_check_applies_to():
    table = catalog.markdown_table(["imbalance", "keras_config"]).splitlines()
    assert table[0] == "| id | theme | tasks | flags | needs | default thresholds |"
    single = next(r for r in table if "[`single_class_eval`]" in r)
    assert "| imbalance | binary, multiclass, sequence |" in single  # a tagger's real tokens
    hidden = next(r for r in table if "[`hidden_softmax`]" in r)
    assert "| every task |" in hidden
    assert "tasks: binary, multiclass" in catalog.details(["imbalance"])
