"""The task rule: one table (loss x output x targets -> task), and checks that keep to
their tasks."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_sanity.checks import REGISTRY, Context, run_checks, skipped_checks
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.task import (
    ALL_TASKS,
    SINGLE_LABEL,
    Task,
    decide_task,
    task_gap,
)
from mlflow_sanity.pipeline import build_report, check_predictions

rng = np.random.default_rng(0)
INT_PRICES = rng.integers(25, 347, size=200)  # whole-number regression targets
FLOATS = rng.normal(size=200)
BINARY = rng.integers(0, 2, size=200)
CLASSES = rng.integers(0, 5, size=200)
ONE_HOT = np.eye(5)[CLASSES]
MULTI_HOT = (rng.random((200, 6)) < 0.3).astype(np.float32)
TOKENS = rng.integers(0, 9, size=(200, 12))  # one tag per token, 0 = padding
X = rng.normal(size=(200, 8))

# loss, activation, units, rank, targets, extra -> task
TABLE = [
    # a regression loss on a non-probability output: regression, whatever the targets
    ("mse", "linear", 1, 2, INT_PRICES, {}, Task.REGRESSION),
    ("mean_absolute_error", "relu", 1, 2, INT_PRICES, {}, Task.REGRESSION),
    ("huber", "softplus", 1, 2, FLOATS, {}, Task.REGRESSION),
    ("log_cosh", None, 1, 2, FLOATS, {}, Task.REGRESSION),
    ("msle", "linear", 3, 2, np.abs(rng.normal(size=(200, 3))), {}, Task.REGRESSION),
    ("poisson", "exponential", 1, 2, INT_PRICES, {}, Task.REGRESSION),
    ("MeanSquaredError", "linear", 1, 2, BINARY, {}, Task.REGRESSION),
    ("mse", "linear", 1, 3, rng.normal(size=(200, 12, 1)), {}, Task.REGRESSION),
    # a regression loss on a probability output is a classifier with the wrong loss
    ("mse", "softmax", 5, 2, ONE_HOT, {}, Task.MULTICLASS),
    ("mse", "sigmoid", 1, 2, BINARY, {}, Task.BINARY),
    # single-label classification
    ("binary_crossentropy", "sigmoid", 1, 2, BINARY, {}, Task.BINARY),
    ("binary_crossentropy", "linear", 1, 2, BINARY, {}, Task.BINARY),  # from_logits
    ("sparse_categorical_crossentropy", "softmax", 5, 2, CLASSES, {}, Task.MULTICLASS),
    ("categorical_crossentropy", "softmax", 5, 2, ONE_HOT, {}, Task.MULTICLASS),
    ("sparse_categorical_crossentropy", "softmax", 2, 2, BINARY, {}, Task.BINARY),
    ("hinge", "linear", 1, 2, BINARY * 2 - 1, {}, Task.BINARY),
    ("my_custom_loss", "softmax", 5, 2, CLASSES, {}, Task.MULTICLASS),
    # several labels per row
    ("binary_crossentropy", "sigmoid", 6, 2, MULTI_HOT, {}, Task.MULTILABEL),
    ("binary_focal_crossentropy", "linear", 6, 2, MULTI_HOT, {}, Task.MULTILABEL),
    (None, "sigmoid", 6, 2, MULTI_HOT, {}, Task.MULTILABEL),
    # one class per token
    ("sparse_categorical_crossentropy", "softmax", 9, 3, TOKENS, {}, Task.SEQUENCE),
    ("categorical_crossentropy", "softmax", 9, 3, np.eye(9)[TOKENS], {}, Task.SEQUENCE),
    ("sparse_categorical_crossentropy", "softmax", 9, None, TOKENS, {}, Task.SEQUENCE),
    # a symbolic rank-3 output with one target per row (TextVectorization inside the model)
    ("binary_crossentropy", "sigmoid", 1, 3, BINARY, {}, Task.BINARY),
    # what the checks cannot judge
    ("mse", "linear", 8, 2, X, {"inputs_are_targets": True}, Task.UNSUPPORTED),
    ("binary_crossentropy", "sigmoid", 8, 2, X, {"inputs_are_targets": True}, Task.UNSUPPORTED),
    (None, None, None, None, None, {}, Task.UNSUPPORTED),
    # targets not readable (a generator): the loss and output still decide
    ("mse", "linear", 1, 2, None, {}, Task.REGRESSION),
    ("sparse_categorical_crossentropy", "softmax", 10, 2, None, {}, Task.MULTICLASS),
    (None, "linear", 1, 2, None, {"custom_loop": True}, Task.UNSUPPORTED),
    ("my_custom_loss", "linear", 1, 2, FLOATS, {}, Task.UNSUPPORTED),
    # the evaluator's model_type, and static predictions with no loss known
    (None, None, None, None, FLOATS, {"model_type": "regressor"}, Task.REGRESSION),
    (None, None, None, None, INT_PRICES, {"model_type": "regressor"}, Task.REGRESSION),
    (None, None, None, None, BINARY, {"model_type": "classifier"}, Task.BINARY),
    (
        None,
        None,
        None,
        None,
        np.array(["a", "b", "c"] * 10),
        {"model_type": "classifier"},
        Task.MULTICLASS,
    ),
    (None, None, None, None, MULTI_HOT, {"model_type": "classifier"}, Task.MULTILABEL),
    (None, None, None, None, FLOATS, {}, Task.REGRESSION),
    (None, None, None, None, CLASSES, {}, Task.MULTICLASS),
    (None, None, None, None, np.array(["yes", "no"] * 10), {}, Task.BINARY),
]


@pytest.mark.parametrize(("loss", "act", "units", "rank", "y", "extra", "task"), TABLE)
def test_the_task_table(loss, act, units, rank, y, extra, task):
    decision = decide_task(
        loss=loss, activation=act, output_units=units, output_rank=rank, targets=y, **extra
    )
    assert decision.task is task, decision
    assert decision.why
    assert decision.judged is (task is not Task.UNSUPPORTED)


def test_an_unsupported_task_says_why_in_the_coverage():
    decision = decide_task(loss="mse", targets=X, inputs_are_targets=True)
    assert task_gap(decision) == {
        "task": "task-specific checks (an autoencoder: the targets are the inputs)"
    }
    assert task_gap(decide_task(loss="mse", targets=FLOATS)) == {}


def test_every_check_declares_its_tasks():
    for chk in REGISTRY.values():
        assert chk.tasks, chk.id
        assert chk.tasks <= ALL_TASKS
    leakage = [c for c in REGISTRY.values() if c.theme == "leakage"]
    assert any(Task.REGRESSION in c.tasks for c in leakage)


def _collapsed() -> Context:
    c = classify([0] * 90 + [1] * 10, [0] * 100)
    return Context(eval=c)


def test_a_classification_check_never_runs_on_another_task():
    ctx = _collapsed()
    assert {f.id for f in run_checks(ctx)} >= {"accuracy_at_baseline", "minority_class_missed"}
    ctx = Context(eval=ctx.eval, task=Task.REGRESSION)
    ids = {f.id for f in run_checks(ctx)}
    single_label_only = {cid for cid, c in REGISTRY.items() if c.tasks <= SINGLE_LABEL}
    assert not ids & single_label_only


def test_build_report_says_the_task_and_an_unsupported_task_is_not_checked():
    report = check_predictions([0] * 90 + [1] * 10, [0] * 100)
    assert report.task == "binary"
    assert report.to_dict()["task"] == "binary"
    decision = decide_task(loss="mse", targets=X, inputs_are_targets=True)
    ctx = Context(task=decision.task, missing=task_gap(decision))
    records = skipped_checks(ctx, call="fit")
    assert records, "an autoencoder's task-specific checks are gaps"
    assert {r.check for r in records} >= {"accuracy_at_baseline", "prediction_collapse"}
    report = build_report(ctx, source="autolog")
    assert report.task == "unsupported"
    assert report.coverage.startswith("partial: ")
    assert "autoencoder" in report.coverage


def test_a_regression_has_no_classification_gap():
    ctx = Context(task=Task.REGRESSION)
    assert skipped_checks(ctx, call="fit") == []


def _tags(run_id: str) -> dict[str, str]:
    import mlflow

    return mlflow.get_run(run_id).data.tags


def test_fit_and_evaluate_say_their_task(sanity_on, keras):
    """One rule for every Keras way in: the classifier is `multiclass` on its fit and its
    evaluate; an autoencoder is `unsupported`, says why, and gets no classification check."""
    import mlflow
    from keras_data import blobs, mlp

    x, y = blobs(n=240)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with mlflow.start_run() as run:
        model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
        model.evaluate(x[:60], y[:60], verbose=0)
    assert _tags(run.info.run_id)["sanity.task"] == "multiclass"

    auto = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(6)]
    )
    auto.compile("adam", "mse")
    with mlflow.start_run() as run:
        auto.fit(x, x, validation_split=0.25, epochs=2, verbose=0)
        auto.evaluate(x[:60], x[:60], verbose=0)  # the evaluate says the same
    tags = _tags(run.info.run_id)
    assert tags["sanity.task"] == "unsupported"
    assert "autoencoder" in tags["sanity.coverage"]
    assert "model.evaluate" in tags["sanity.coverage"], tags["sanity.coverage"]
    single_label = {cid for cid, c in REGISTRY.items() if c.tasks <= SINGLE_LABEL}
    assert not set(tags["sanity.findings"].split(",")) & single_label


def test_seeds_judge_a_keras_model_by_the_task_rule(keras, mlflow_experiment):
    """The seed worker reads a Keras model's outputs where autolog does (the task rule,
    then ``evaluation_of``): a multi-label model's seeds are judged as multi-label."""
    from seed_keras_fns import multilabel_seed

    from mlflow_sanity import seed_sweep

    summary = seed_sweep(multilabel_seed, 2, executor="sequential", progress=False)
    assert summary.report.task == "multilabel"
    f = summary.report.get("seed_variance")
    assert f is not None and f.evidence["n_ok"] == 2, f
