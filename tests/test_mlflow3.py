"""MLflow 3 surfaces against a real ``mlflow server``: LoggedModel tags, the registry gate,
clean metric history, run groups by config/data digest."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_sanity.cli import main
from mlflow_sanity.tracking.verdict import KEYS, latest_model_values, of_tags

pytestmark = pytest.mark.keras


@pytest.fixture(scope="module")
def server(mlflow_server, keras):
    """Point MLflow at the real server for this module, with sanity autolog on (and plots
    stubbed: rendering them is tested elsewhere)."""
    import mlflow

    from mlflow_sanity.report import plots

    stubbed = {}
    for name in ("learning_curves_png", "confusion_matrix_png", "class_balance_png"):
        stubbed[name] = getattr(plots, name)
        setattr(plots, name, lambda *args, **kwargs: b"\x89PNG\r\n\x1a\n")

    old_env, old_uri = os.environ.get("MLFLOW_TRACKING_URI"), mlflow.get_tracking_uri()
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
    mlflow.set_tracking_uri(mlflow_server)
    from mlflow_sanity.adapters.keras import patch

    patch.autolog(silent=True)
    yield mlflow_server
    patch.autolog(disable=True)
    mlflow.keras.autolog(disable=True)
    for name, fn in stubbed.items():
        setattr(plots, name, fn)
    mlflow.set_tracking_uri(old_uri)
    if old_env is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old_env


def _experiment(prefix):
    import mlflow

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, mlflow.set_experiment(name).experiment_id


def _data(n=600, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    x = (rng.normal(size=(n, 4)) * spread + y[:, None] * 2.5).astype("float32")
    return x, y


def _model(keras, collapsed=False, lr=0.01):
    layers = [keras.Input((4,)), keras.layers.Dense(8, activation="relu")]
    if collapsed:  # frozen at "always class 0"
        layers.append(
            keras.layers.Dense(
                1,
                "sigmoid",
                bias_initializer=keras.initializers.Constant(-6.0),
                kernel_initializer="zeros",
            )
        )
    else:
        layers.append(keras.layers.Dense(1, "sigmoid"))
    model = keras.Sequential(layers)
    optimizer = keras.optimizers.SGD(0.0) if collapsed else keras.optimizers.Adam(lr)
    model.compile(optimizer, "binary_crossentropy", metrics=["accuracy"])
    return model


def invoke(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def fitted(server, keras):
    """Two fits under mlflow.keras.autolog(): a collapsed model and a healthy one, each
    evaluated twice through mlflow.models.evaluate (its logged model's URI) and once on
    static predictions (a named dataset); the two models registered under one name."""
    import mlflow

    name, exp_id = _experiment("mlflow3")
    # MLflow's own per-epoch logging and signature inference are not under test here
    mlflow.keras.autolog(
        log_datasets=False,
        silent=True,
        log_every_epoch=False,
        log_every_n_steps=10_000,
        log_model_signatures=False,
    )
    x, y = _data()
    x_test, y_test = _data(300, seed=1)
    test = pd.DataFrame(x_test, columns=[f"f{i}" for i in range(4)]).assign(label=y_test)
    out = {"experiment": name, "experiment_id": exp_id}
    for kind in ("collapsed", "healthy"):
        keras.utils.set_random_seed(0)
        model = _model(keras, collapsed=kind == "collapsed")
        with mlflow.start_run(run_name=kind) as run:
            model.fit(x, y, epochs=12, batch_size=32, validation_split=0.25, verbose=0)
            model_id = mlflow.last_logged_model().model_id
            if kind == "healthy":
                _evaluate_three_times(mlflow, model, model_id, test, x_test)
        out[kind] = {"run_id": run.info.run_id, "model_id": model_id}
    mlflow.keras.autolog(disable=True)
    client = mlflow.MlflowClient()
    out["registered"] = reg = f"clf-{uuid.uuid4().hex[:6]}"
    for kind in ("collapsed", "healthy"):
        mv = mlflow.register_model(f"models:/{out[kind]['model_id']}", reg)
        out[kind]["version"] = mv.version
    client.set_registered_model_alias(reg, "candidate", out["collapsed"]["version"])
    client.set_registered_model_alias(reg, "champion", out["healthy"]["version"])
    return out


def _evaluate_three_times(mlflow, model, model_id, test, x_test):
    """The logged model's URI on the test frame (MLflow logs the returned metrics, on the
    model), then static predictions on a named dataset twice: once with ``model_id``
    (MLflow logs), once without (the evaluator logs)."""
    mlflow.models.evaluate(
        f"models:/{model_id}", data=test, targets="label", model_type="classifier",
        evaluators="sanity",
    )  # fmt: skip
    p = model.predict(x_test, verbose=0)[:, 0]
    scored = test.assign(pred=(p > 0.5).astype(int))
    holdout = mlflow.data.from_pandas(scored, targets="label", predictions="pred", name="holdout")
    for linked in (model_id, None):
        mlflow.models.evaluate(
            data=holdout, model_type="classifier", evaluators="sanity", model_id=linked
        )


def test_logged_models_carry_the_verdict(fitted):
    import mlflow

    flagged = mlflow.search_logged_models(
        experiment_ids=[fitted["experiment_id"]],
        filter_string="tags.`sanity.status` = 'fail'",
        output_format="list",
    )
    assert [m.model_id for m in flagged] == [fitted["collapsed"]["model_id"]]
    bad = flagged[0].tags
    assert "prediction_collapse" in bad["sanity.findings"].split(",")
    assert bad["sanity.finding.prediction_collapse"] == "fail"
    assert "mlflow-sanity: FAIL" in bad["mlflow.note.content"]  # the model page shows it
    good = mlflow.get_logged_model(fitted["healthy"]["model_id"])
    assert good.tags["sanity.status"] == "pass", good.tags
    assert good.tags["sanity.findings"] == ""
    assert "mlflow-sanity: PASS" in good.tags["mlflow.note.content"]
    linked = {(m.key, m.dataset_name) for m in good.metrics}
    assert ("sanity/balanced_accuracy", None) in linked  # the fit's validation data
    # the verdict as numbers, on the models (the Models list's columns) and their runs
    client = mlflow.MlflowClient()
    for kind, model in (("collapsed", flagged[0]), ("healthy", good)):
        assert latest_model_values(model.metrics) == of_tags(model.tags), kind
        run = client.get_run(fitted[kind]["run_id"]).data
        assert {k: run.metrics[k] for k in KEYS} == of_tags(run.tags), kind
    assert of_tags(flagged[0].tags)["sanity/status_level"] == 2.0
    assert of_tags(good.tags) == {"sanity/status_level": 0.0, "sanity/flagged_count": 0.0}
    assert ("sanity/eval/balanced_accuracy", "dataset") in linked  # the evaluate data

    listed = invoke("runs", "--models", "--experiment", fitted["experiment"])
    assert listed.exit_code == 0, listed.output
    assert fitted["collapsed"]["model_id"] in listed.output and "fail" in listed.output
    only_fail = invoke("runs", "--models", "-e", fitted["experiment"], "--status", "fail")
    assert fitted["healthy"]["model_id"] not in only_fail.output


def test_metric_history_one_value_per_evaluation(fitted):
    import mlflow

    client = mlflow.MlflowClient()
    run_id = fitted["healthy"]["run_id"]
    keys = [k for k in client.get_run(run_id).data.metrics if k.startswith("sanity/")]
    assert "sanity/balanced_accuracy" in keys  # the fit's validation data, plain names
    counts = {k: len(client.get_metric_history(run_id, k)) for k in keys}
    assert {k: n for k, n in counts.items() if k.startswith("sanity/eval/")}, keys
    assert any(k.startswith("sanity/holdout/") for k in keys)
    for key, n in counts.items():
        if key in KEYS:
            # the run's verdict after each report (the fit and three evaluations), and the
            # row that files the LoggedModel's own verdict through this run when it changed
            history = client.get_metric_history(run_id, key)
            history.sort(key=lambda m: (m.step, m.timestamp))
            assert n >= 4 and history[-1].value == client.get_run(run_id).data.metrics[key]
            continue
        else:
            expected = 2 if key.startswith("sanity/holdout/") else 1  # two calls on "holdout"
        assert n == expected, (key, n)


def test_gate_runs_versions_and_aliases(fitted):
    reg = fitted["registered"]
    bad, good = fitted["collapsed"], fitted["healthy"]
    assert invoke("gate", bad["run_id"]).exit_code == 1
    assert invoke("gate", good["run_id"]).exit_code == 0
    flagged = invoke("gate", f"models:/{reg}/{bad['version']}")
    assert flagged.exit_code == 1 and "prediction_collapse" in flagged.output
    assert invoke("gate", f"models:/{reg}/{good['version']}").exit_code == 0
    assert invoke("gate", f"models:/{reg}@candidate").exit_code == 1
    assert invoke("gate", f"models:/{reg}@champion", "--fail-on", "fail").exit_code == 0
    assert invoke("gate", f"models:/{bad['model_id']}").exit_code == 1
    for missing in (f"models:/{reg}/99", f"models:/{reg}@nope", "models:/no-such-model/1"):
        out = invoke("gate", missing)
        assert out.exit_code == 2 and "Traceback" not in out.output, out.output

    tagged = invoke("tag-version", f"models:/{reg}@candidate")
    assert tagged.exit_code == 0, tagged.output
    import mlflow

    mv = mlflow.MlflowClient().get_model_version(reg, bad["version"])
    assert mv.tags["sanity.status"] == "fail"
    assert "prediction_collapse" in mv.tags["sanity.findings"]
    assert invoke("tag-version", f"models:/{reg}@nope").exit_code == 2


def test_runs_group_by_config_and_data(server, keras):
    import mlflow

    name, _ = _experiment("groups")
    x, y = _data(300)
    x2, y2 = _data(300, seed=5)
    fits = [(seed, 0.01, (x, y)) for seed in range(5)]
    fits += [(0, 0.05, (x, y)), (0, 0.01, (x2, y2))]  # another learning rate, other data
    ids = []
    for seed, lr, (xs, ys) in fits:
        keras.utils.set_random_seed(seed)
        model = _model(keras, lr=lr)
        with mlflow.start_run() as run:
            model.fit(xs, ys, epochs=2, batch_size=64, validation_split=0.25, verbose=0)
        ids.append(run.info.run_id)
    tags = [mlflow.get_run(i).data.tags for i in ids]
    configs = {t["sanity.config_digest"] for t in tags[:5]}
    data = {t["sanity.data_digest"] for t in tags[:5]}
    assert len(configs) == 1 and len(data) == 1
    assert tags[5]["sanity.config_digest"] not in configs  # learning rate differs
    assert tags[5]["sanity.data_digest"] in data
    assert tags[6]["sanity.data_digest"] not in data  # other data
    assert tags[6]["sanity.config_digest"] in configs

    out = invoke("variance", "--experiment", name, "--log")
    assert out.exit_code == 0, out.output
    assert "5 runs of this configuration: val accuracy" in out.output
    assert out.output.count("too small to judge") == 2
    assert "seed_variance" in out.output
    for run_id in ids[:5]:
        report_ids = mlflow.get_run(run_id).data.metrics
        assert "sanity/group/accuracy_mean" in report_ids
    grouped = invoke("runs", "--group", "--experiment", name)
    assert grouped.exit_code == 0, grouped.output
    assert all(run_id in grouped.output for run_id in ids)


def test_demo_experiment_is_model_training(server):
    import mlflow

    from mlflow_sanity.tracking.experiments import KIND_TAG, MODEL_TRAINING, mark_model_training

    _, exp_id = _experiment("kind")
    assert mark_model_training(exp_id)
    assert mlflow.get_experiment(exp_id).tags[KIND_TAG] == MODEL_TRAINING
    mlflow.MlflowClient().set_experiment_tag(exp_id, KIND_TAG, "genai_development")
    assert not mark_model_training(exp_id)  # the user's choice is kept
