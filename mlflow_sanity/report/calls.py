"""Which call and which data a finding is about, in the words a user knows.

One run collects several calls (a ``fit``, its ``model.evaluate`` calls, an
``mlflow.models.evaluate``), and their numbers differ: the validation accuracy of the fit
is not the test accuracy of the evaluator. Every finding the description, the console
summary and the HTML report show is labelled with its call and data (``fit, validation
rows``, ``model.evaluate #2``, ``mlflow.models.evaluate on 'eval'``), and the headline and
the corrected figure say which number they are. The labels are read from what every
report already carries: the finding's ``source`` (the entry point, numbered per call by
the tracking layer) and evidence, the report's ``provenance`` and the datasets its metric
names claim.
"""

from __future__ import annotations

from dataclasses import replace

from mlflow_sanity.checks import REGISTRY
from mlflow_sanity.core.findings import Finding, Provenance, Report
from mlflow_sanity.core.verdict import Verdict

FIT_SOURCES = frozenset({"autolog", "callback"})  # the Keras fit hooks
EVALUATOR = "evaluator"
# Entry points that make one report of their own: their findings need no call named.
_WORDS = {
    "python": "",
    "seeds": "the seed sweep",
    "variance": "the runs of one configuration",
    "check-split": "check-split",
}
_ROW_EVIDENCE = frozenset({"eval", "test", "train"})  # checks that judge rows, not settings
UNNAMED = "dataset"  # what MLflow names a DataFrame evaluated without a name


def _evaluator_label(dataset: str | None) -> str:
    if not dataset or dataset == UNNAMED:
        return "mlflow.models.evaluate on its dataset"
    return f"mlflow.models.evaluate on '{dataset}'"


def evaluator_dataset(report: Report | None) -> str | None:
    """The dataset ``mlflow.models.evaluate`` judged, when the report can tell which."""
    if report is None:
        return None
    origin = report.provenance
    if origin.source == EVALUATOR and origin.dataset:
        return origin.dataset
    claims = report.state.metric_names or {}
    names = {str(c.get("name")) for c in claims.values() if isinstance(c, dict) and c.get("name")}
    return names.pop() if len(names) == 1 else None


def _fit_label(f: Finding) -> str:
    if f.evidence.get("evaluated_on") == "training data":
        return "fit, training rows"
    chk = REGISTRY.get(f.id)
    if chk is not None and _ROW_EVIDENCE & {*chk.requires, *chk.one_of}:
        return "fit, validation rows"
    return "fit"


def call_of(f: Finding, report: Report | None = None) -> str:
    """The call and the data ``f`` is about (empty for a lone ``check_predictions``)."""
    source = f.source
    if source in FIT_SOURCES:
        return _fit_label(f)
    if source.startswith("model.evaluate"):
        return source  # "model.evaluate #2": the rows given to that call
    if source.startswith(EVALUATOR):
        return _evaluator_label(evaluator_dataset(report))
    return _WORDS.get(source, source)


def headline_of(origin: Provenance, report: Report | None = None) -> str:
    """Which call's number a report's headline metrics are (its latest call)."""
    if origin.source in FIT_SOURCES or origin.call == "fit":
        rows = origin.evaluated_on or "validation data"
        return f"fit, {rows.replace(' data', ' rows')}"
    if origin.call.startswith("model.evaluate"):
        return origin.call
    if origin.source == EVALUATOR:
        return _evaluator_label(origin.dataset or evaluator_dataset(report))
    return _WORDS.get(origin.source, origin.call or origin.source)


def verdict_of(report: Report) -> Verdict:
    """The report's verdict (``Report.verdict``) in the words a user knows: the call and
    data of each finding (``where``), of the headline metrics when the findings come from
    several calls, and the ``sanity.corrected`` line naming the call whose number it
    corrects whenever the run holds several (a numbered call already names itself)."""
    found = report.verdict()
    headline = headline_of(report.provenance, report) if found.several_calls else ""
    text, f = found.corrected, found.corrected_finding
    if text is not None and f is not None and "#" not in f.source and found.several_calls:
        label = call_of(f, report)
        text = f"{text[:-1]}; {label})" if text.endswith(")") and label else text
    where = {g.id: call_of(g, report) for g in report.findings}
    return replace(found, where=where, headline=headline, corrected=text)
