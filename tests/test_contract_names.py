"""The tag names are a public contract (DESIGN.md "Tags"): users filter on them, CI gates
and external checks read them. They are defined once, in ``core/tag_names.py``; this pins
their values so a rename cannot slip through."""

from __future__ import annotations

from mlflow_sanity.core import tag_names


def test_tag_names_are_the_documented_contract():
    assert tag_names.STATUS == "sanity.status"
    assert tag_names.FINDINGS == "sanity.findings"
    assert tag_names.finding("prediction_collapse") == "sanity.finding.prediction_collapse"
    assert tag_names.VERSION == "sanity.version"
    assert tag_names.COVERAGE == "sanity.coverage"
    assert tag_names.TASK == "sanity.task"
    assert tag_names.CORRECTED == "sanity.corrected"
    assert (tag_names.PROOF, tag_names.PROOF_ARM) == ("sanity.proof", "sanity.proof.arm")
    assert tag_names.NOTE == "mlflow.note.content"


def test_every_sanity_tag_name_is_under_the_prefix():
    names = [v for k, v in vars(tag_names).items() if k.isupper() and isinstance(v, str)]
    ours = [n for n in names if not n.startswith("mlflow.")]
    assert ours and all(n.startswith(tag_names.PREFIX) for n in ours)
