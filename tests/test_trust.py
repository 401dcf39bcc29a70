"""Trust in the verdict: bounded logging with a spool when the server is down (issue 13.1),
coverage as part of the verdict (13.2), many classes and no warnings of our own (13.4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import start_mlflow_server, stop_mlflow_server
from keras_data import blobs, mlp

from mlflow_sanity.tracking import budget, spool, sync

DEAD_URI = "http://127.0.0.1:9"


# -- budget -------------------------------------------------------------------------------


def test_bounded_sets_mlflow_http_settings_and_restores_them(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv(budget.TIMEOUT_ENV, "3")
    with budget.bounded() as b:
        assert b.timeout == 3
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "3"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        with budget.bounded():  # nested: unchanged, and the outer block still restores
            assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "3"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "3"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "120"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_mlflow_reads_the_settings_per_call():
    """Our context manager only works because MLflow reads the variables on every call."""
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES

    with budget.bounded(budget.Budget(timeout=2, retries=0)):
        assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 0
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() != 0


def test_probe_and_connection_errors(tracking_uri):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    start = time.monotonic()
    assert not budget.reachable(DEAD_URI)
    assert budget.reachable(tracking_uri)  # a local store is not probed
    with budget.bounded(), pytest.raises(MlflowException) as err:
        MlflowClient(DEAD_URI).get_run("0" * 32)
    assert budget.is_connection_error(err.value)
    assert not budget.is_connection_error(ValueError("bad label"))
    assert time.monotonic() - start < 10


# -- spool: dead server, sync, server dying mid-fit -----------------------------------------


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    folder = tmp_path / "spool"
    monkeypatch.setenv(spool.SPOOL_ENV, str(folder))
    return folder


@pytest.fixture
def dead_server(tracking_uri, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", DEAD_URI)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "spooled-experiment")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(DEAD_URI)
    yield DEAD_URI
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(tracking_uri)


def _fit(keras, x, y, callbacks=()):
    model = mlp(keras, 3, "softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, validation_split=0.25, epochs=4, verbose=0, callbacks=list(callbacks))
    return model, history, time.perf_counter() - start


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_dead_server_fit_returns_and_spools_the_report(keras, dead_server, spool_dir):
    import mlflow_sanity

    x, y = blobs()
    _fit(keras, x, y)  # warm-up: graph tracing is not ours to count
    _, _, plain = _fit(keras, x, y)
    mlflow_sanity.autolog()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, history, checked = _fit(keras, x, y)
    finally:
        mlflow_sanity.autolog(disable=True)
    assert isinstance(history, keras.callbacks.History)
    assert len(history.history["loss"]) == 4
    # sanity work on a tiny fit is well under a second; the dead server adds only the
    # probe (connection refused at once): far below the logging budget
    assert checked - plain < budget.Budget.from_env().timeout, (plain, checked)
    ours = [w for w in caught if issubclass(w.category, (spool.SpoolWarning, UserWarning))]
    spooled = [w for w in ours if issubclass(w.category, spool.SpoolWarning)]
    assert len(spooled) == 1, [str(w.message) for w in ours]
    assert str(spool_dir) in str(spooled[0].message)
    [item] = spool.pending(spool_dir)
    assert item.key.startswith(spool.PENDING_PREFIX)
    assert item.meta["experiment_name"] == "spooled-experiment"
    assert item.meta["tracking_uri"] == DEAD_URI
    [entry] = item.entries
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["what"] == "fit"
    assert "learning_curves.png" in manifest["files"]
    assert "validation_confusion_matrix.png" in manifest["files"]
    report = json.loads((entry / "report.json").read_text())
    assert report["findings"] and report["status"] in ("pass", "warn", "fail")


def _artifacts(client, run_id, path="sanity"):
    out = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            out.update(_artifacts(client, run_id, item.path))
        else:
            out[item.path] = Path(client.download_artifacts(run_id, item.path)).read_bytes()
    return out


def _sanity_view(client, run_id):
    run = client.get_run(run_id)
    tags = {
        k: v for k, v in run.data.tags.items() if k.startswith("sanity.") and k != "sanity.version"
    }
    tags.pop(spool.SPOOLED_TAG, None)
    tags["note"] = run.data.tags.get("mlflow.note.content")
    metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("sanity/")}
    return tags, metrics, _artifacts(client, run_id), run


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_spooled_reports_sync_like_a_direct_log(keras, dead_server, spool_dir, mlflow_server):
    """A fit and an evaluate spooled against a dead server land on a real server later,
    equal to the same reports logged directly; a second sync does nothing more."""
    import mlflow
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    import mlflow_sanity
    from mlflow_sanity.cli import main
    from mlflow_sanity.core.findings import Report
    from mlflow_sanity.tracking.publish import replay

    x, y = blobs()
    mlflow_sanity.autolog()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", spool.SpoolWarning)
            model, _, _ = _fit(keras, x, y)
            model.evaluate(x[:60], y[:60], verbose=0)
    finally:
        mlflow_sanity.autolog(disable=True)
    [item] = spool.pending(spool_dir)
    assert len(item.entries) == 2
    # the same reports, logged directly to a run of their own on the live server
    client = MlflowClient(mlflow_server)
    exp = client.create_experiment(f"direct-{time.time_ns()}")
    direct = client.create_run(exp).info.run_id
    for entry in item.entries:
        manifest = json.loads((entry / "manifest.json").read_text())
        files = {n: (entry / "files" / n).read_bytes() for n in manifest["files"]}
        report = Report.from_dict(json.loads((entry / "report.json").read_text()))
        replay(direct, report, files, manifest, client)  # what publish does with a live server

    runner = CliRunner()
    listed = runner.invoke(main, ["sync", "--list"])
    assert listed.exit_code == 0 and item.key in listed.output
    done = runner.invoke(main, ["sync", "--to", mlflow_server])
    assert done.exit_code == 0, done.output
    assert "2 report(s) uploaded" in done.output
    assert not spool.pending(spool_dir)
    again = runner.invoke(main, ["sync", "--to", mlflow_server])
    assert again.exit_code == 0 and "nothing to sync" in again.output

    synced = client.search_runs([client.get_experiment_by_name("spooled-experiment").experiment_id])
    assert len(synced) == 1
    tags, metrics, artifacts, run = _sanity_view(client, synced[0].info.run_id)
    d_tags, d_metrics, d_artifacts, _ = _sanity_view(client, direct)
    assert run.data.tags[spool.SPOOLED_TAG] == "true"
    assert run.info.status == "FINISHED"
    # the fit's digests were spooled with its report (mlflow-sanity variance groups by them)
    assert tags["sanity.config_digest"] and tags["sanity.data_digest"]
    assert tags == d_tags
    assert metrics == d_metrics
    assert set(artifacts) == set(d_artifacts)
    for name, data in artifacts.items():
        if name.endswith(".html"):  # the page embeds the version and nothing run-specific
            continue
        if name.endswith("report.json"):  # the synced run also lists the entries it got
            synced, direct_report = json.loads(data), json.loads(d_artifacts[name])
            assert len(synced["state"].pop(spool.SYNCED_KEY)) == 2
            assert synced == direct_report, name
            continue
        assert data == d_artifacts[name], name
    assert mlflow.get_tracking_uri() == DEAD_URI


def test_sync_stopped_before_removing_an_entry_does_not_upload_it_twice(
    mlflow_experiment, spool_dir, monkeypatch
):
    import mlflow

    from mlflow_sanity import check_predictions
    from mlflow_sanity.tracking.reports import read_report

    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    for pred in ([0] * 200, [0] * 180 + [1] * 20):
        report = check_predictions([0] * 180 + [1] * 20, pred)
        spool.write_entry(run_id, report, scope="evaluate", what="evaluate")
    remove = spool.remove
    calls = []

    def stopped_once(path):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the process dies after the first upload
        remove(path)

    monkeypatch.setattr(spool, "remove", stopped_once)
    with pytest.raises(KeyboardInterrupt):
        sync.sync(spool_dir)
    [first] = sync.sync(spool_dir)
    assert first.error == "" and first.uploaded == 1  # only the entry not yet uploaded
    assert not spool.pending(spool_dir)
    calls_logged = read_report(run_id).state.calls["evaluate"]
    assert [c["call"].split(" #")[1] for c in calls_logged] == ["1", "2"]
    history = mlflow.MlflowClient().get_metric_history(run_id, "sanity/evaluate/1/accuracy")
    assert len(history) == 1


def test_dead_server_evaluator_spools_its_verdict_and_sync_delivers_it(
    mlflow_experiment, tracking_uri, spool_dir, monkeypatch
):
    """``mlflow.models.evaluate``'s verdict is not lost when the server is down: the
    evaluator spools it like fit and evaluate do, and sync puts it on the run."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.data.evaluation_dataset import EvaluationDataset

    from mlflow_sanity.adapters.evaluator import SanityEvaluator

    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    y = (np.arange(400) % 20 == 0).astype(int)  # 5% positives, all predicted negative
    df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=400), "label": y, "pred": 0})
    dataset = EvaluationDataset(df, targets="label", predictions="pred", name="holdout")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", DEAD_URI)
    mlflow.set_tracking_uri(DEAD_URI)
    try:
        start = time.perf_counter()
        with pytest.warns(spool.SpoolWarning, match="mlflow.models.evaluate's report"):
            result = SanityEvaluator().evaluate(
                model_type="classifier",
                dataset=dataset,
                run_id=run_id,
                evaluator_config={},
                predictions="pred",
            )
        took = time.perf_counter() - start
    finally:
        mlflow.set_tracking_uri(tracking_uri)
    assert took < budget.Budget.from_env().timeout, took
    assert result.metrics["sanity/accuracy"] == pytest.approx(0.95)
    [item] = spool.pending(spool_dir)
    assert item.key == run_id
    [entry] = item.entries
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["what"] == "mlflow.models.evaluate"
    assert manifest["replay"]["dataset"]["name"] == "holdout"
    assert "confusion_matrix.png" in " ".join(manifest["files"])

    [synced] = sync.sync(spool_dir, tracking_uri)  # the server is back (here: the local store)
    assert synced.error == "" and synced.uploaded == 1
    logged = mlflow.MlflowClient().get_run(run_id).data
    assert logged.tags["sanity.status"] == "fail"
    assert "prediction_collapse" in logged.tags["sanity.findings"]
    assert logged.metrics["sanity/accuracy"] == pytest.approx(0.95)
    assert not spool.pending(spool_dir)


def _start_server(root: Path, port: int) -> subprocess.Popen:
    return start_mlflow_server(root, port)


def _stop_server(proc: subprocess.Popen) -> None:
    stop_mlflow_server(proc, signal.SIGKILL)


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_server_dying_mid_fit_keeps_the_report(
    keras, tracking_uri, spool_dir, tmp_path, monkeypatch
):
    """The run is created, the server dies at epoch 2: the fit returns, the report is in
    the spool under that run, and syncing after a restart completes the run."""
    import mlflow
    from conftest import _free_port
    from mlflow.tracking import MlflowClient

    import mlflow_sanity

    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    proc = _start_server(tmp_path, port)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # an id of the session's store
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("mid-fit")

    class KillAtEpoch2(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                _stop_server(proc)

    x, y = blobs()
    mlflow_sanity.autolog()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            _, history, _ = _fit(keras, x, y, [KillAtEpoch2()])
            took = time.perf_counter() - start
        assert len(history.history["loss"]) == 4
        assert took < 30, took
        shown = [f"{w.category.__name__}: {w.message}" for w in caught]
        assert sum(issubclass(w.category, spool.SpoolWarning) for w in caught) == 1, shown
        [item] = spool.pending(spool_dir)
        run_id = item.meta["run_id"]
        assert run_id and item.key == run_id
        assert item.meta["end_status"] == "FINISHED"
        assert len(item.entries) == 1
        proc = _start_server(tmp_path, port)
        [result] = sync.sync(spool_dir)
        assert not result.error and result.uploaded == 1
        run = MlflowClient(uri).get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["sanity.status"] in ("pass", "warn", "fail")
        assert not spool.pending(spool_dir)
    finally:
        mlflow_sanity.autolog(disable=True)
        _stop_server(proc)
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(tracking_uri)


# -- coverage ---------------------------------------------------------------------------------


def test_coverage_is_made_of_not_checked_records():
    """Coverage comes from typed records (never from message text), and the registry writes
    one per enabled check whose evidence the adapter said was missing, and why."""
    from mlflow_sanity.checks import CheckOptions, Context, checks_in, skipped_checks
    from mlflow_sanity.core.findings import NotChecked, Report
    from mlflow_sanity.report.markdown import note_section, terminal_summary

    assert Report().coverage == "full"
    unread = Report(skipped=[NotChecked("overfitting", "validation data (not readable)", "fit")])
    assert unread.coverage == "partial: fit: validation data (not readable)"
    note = note_section(unread)
    assert "No problems found" not in note
    assert "Not checked: fit: validation data (not readable)." in note
    assert "coverage: partial" in terminal_summary(unread)
    assert "No problems found" in note_section(Report())
    # the registry: one record per check that needed the missing evidence, none otherwise
    ctx = Context(missing={"fingerprint": "leakage checks (no fit)"}, test=None)
    assert skipped_checks(ctx) == []  # nothing that needs a fingerprint could run anyway
    import numpy as np

    from mlflow_sanity.core.splits import Split

    ctx = Context(test=Split(np.eye(4), np.arange(4), "t"), missing={"fingerprint": "no fit"})
    records = skipped_checks(ctx, call="model.evaluate")
    leakage = set(checks_in("leakage"))
    assert records and {r.check for r in records} <= leakage
    assert {r.text for r in records} == {"model.evaluate: no fit"}
    off = CheckOptions.of(disable=[r.check for r in records])
    assert skipped_checks(ctx, off) == []  # a disabled check is not a gap
    assert skipped_checks(Context(test=ctx.test)) == []  # no reason given: not a gap
    # merged reports keep the union, also through JSON; old report.json still loads
    evaluate = Report(skipped=records)
    from mlflow_sanity.report import render_html

    assert evaluate.skipped_by_gap == {"model.evaluate: no fit": [r.check for r in records]}
    assert f"model.evaluate: no fit: <code>{', '.join(r.check for r in records)}" in (
        render_html(evaluate)
    )
    merged = unread.merge(evaluate)
    assert merged.not_checked == unread.not_checked + evaluate.not_checked
    again = Report.from_dict(json.loads(json.dumps(merged.to_dict())))
    assert again.coverage == merged.coverage and again.skipped == merged.skipped
    old = {
        "findings": [],
        "not_checked": ["fit: validation data (not readable)"],
        "inputs": {"source": "autolog", "evaluated_on": "validation data", "n_rows": 20},
    }
    loaded = Report.from_dict(old)
    assert loaded.coverage == "partial: fit: validation data (not readable)"
    assert loaded.provenance.source == "autolog" and loaded.provenance.rows == 20
    assert loaded.provenance.evaluated_on == "validation data"


def test_coverage_tag_is_clipped_to_mlflows_limit():
    from mlflow_sanity.core.findings import NotChecked, Report
    from mlflow_sanity.report.calls import verdict_of
    from mlflow_sanity.tracking.reports import MAX_TAG_CHARS, _tags

    report = Report(skipped=[NotChecked("x", f"check {i} " + "x" * 100) for i in range(200)])
    tags = {t.key: t.value for t in _tags(report, verdict_of(report), "note", None)}
    assert tags["sanity.coverage"].startswith("partial: check 0 ")
    assert len(tags["sanity.coverage"]) <= MAX_TAG_CHARS


def test_evaluator_coverage_and_gate(mlflow_experiment):
    import mlflow
    import pandas as pd
    from click.testing import CliRunner

    from mlflow_sanity.cli import main
    from mlflow_sanity.tracking.reports import read_report

    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 100)
    pred = y.copy()
    pred[:20] = 1 - pred[:20]
    frame = pd.DataFrame({"x": rng.normal(size=200), "label": y, "pred": pred})
    train = pd.DataFrame({"x": rng.normal(size=300), "label": [0, 1] * 150})
    ids = {}
    for name, config in (("no_train", {}), ("with_train", {"train_data": train})):
        with mlflow.start_run(run_name=name) as run:
            mlflow.models.evaluate(
                data=frame,
                targets="label",
                predictions="pred",
                model_type="classifier",
                evaluators="sanity",
                evaluator_config=config,
            )
        ids[name] = run.info.run_id
    partial = mlflow.get_run(ids["no_train"]).data.tags
    assert partial["sanity.coverage"].startswith("partial: mlflow.models.evaluate: leakage")
    assert "Not checked:" in partial["mlflow.note.content"]
    full = mlflow.get_run(ids["with_train"]).data.tags
    assert full["sanity.coverage"] == "full", full["sanity.coverage"]
    assert read_report(ids["no_train"]).coverage == partial["sanity.coverage"]

    runner = CliRunner()
    shown = runner.invoke(main, ["report", ids["no_train"]])
    assert "not checked: mlflow.models.evaluate: leakage" in shown.output
    assert runner.invoke(main, ["gate", ids["no_train"]]).exit_code == 0
    strict = runner.invoke(main, ["gate", ids["no_train"], "--require-full-coverage"])
    assert strict.exit_code == 1 and "coverage is partial" in strict.output
    ok = runner.invoke(main, ["gate", ids["with_train"], "--require-full-coverage"])
    assert ok.exit_code == 0, ok.output


def _endless_batches(x, y, rows: slice):
    """A generator of 30-row batches over ``rows``, repeated: data Keras reads, we never do."""
    while True:
        for i in range(rows.start, rows.stop, 30):
            yield x[i : i + 30], y[i : i + 30]


def _compiled_mlp(keras):
    model = mlp(keras, 3, "softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fit_with_unreadable_validation_is_partial(keras, sanity_on):
    """A validation generator is never consumed by mlflow-sanity: the run says so."""
    import mlflow

    x, y = blobs()
    model = _compiled_mlp(keras)
    batches = _endless_batches(x, y, slice(0, 90))
    model.fit(x[90:], y[90:], validation_data=batches, validation_steps=3, epochs=2, verbose=0)
    tags = mlflow.last_active_run().data.tags
    assert tags["sanity.coverage"].startswith("partial: fit: validation data"), tags
    assert "No problems found" not in tags["mlflow.note.content"]
    assert "Not checked:" in tags["mlflow.note.content"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_evaluate_after_a_fit_on_a_generator_says_leakage_was_not_checked(keras, sanity_on):
    """Training rows from a generator are never read, so the fit leaves no fingerprint: a
    later ``model.evaluate`` cannot compare with them, and its coverage says so."""
    import mlflow

    from mlflow_sanity.adapters.keras.analyse import FIT_NOT_FINGERPRINTED
    from mlflow_sanity.tracking.reports import read_report

    x, y = blobs()
    model = _compiled_mlp(keras)
    model.fit(_endless_batches(x, y, slice(90, 180)), steps_per_epoch=3, epochs=2, verbose=0)
    model.evaluate(x[:90], y[:90], verbose=0)
    report = read_report(mlflow.last_active_run().info.run_id)
    gap = f"model.evaluate #1: {FIT_NOT_FINGERPRINTED}"
    assert gap in report.not_checked, report.not_checked
    assert "train_test_overlap" in report.skipped_by_gap[gap]


# -- many classes, and no warnings of our own -------------------------------------------------


def _many_classes(k: int, per_class: int = 3, seed: int = 0):
    from mlflow_sanity.core.metrics import classify

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), per_class)
    pred = y.copy()
    wrong = rng.random(y.size) < 0.3
    pred[wrong] = rng.integers(0, k, int(wrong.sum()))
    return classify(y, pred)


def test_confusion_view_keeps_the_most_confused_classes_plus_other():
    from mlflow_sanity.report import plots

    cm = np.diag(np.full(40, 10))
    cm[5, 7] = cm[12, 3] = 4  # classes 3, 5, 7, 12 carry all the errors
    keep = plots.most_confused(cm)
    assert len(keep) == plots.TOP_CONFUSED
    assert {3, 5, 7, 12} <= set(keep.tolist())
    c = _many_classes(40)
    view, names, subtitle = plots._confusion_view(c)
    assert view.shape == (plots.TOP_CONFUSED + 1, plots.TOP_CONFUSED + 1)
    assert names[-1] == f"other ({40 - plots.TOP_CONFUSED})"
    assert view.sum() == c.confusion.sum()  # every row is still counted
    assert "most-confused of 40 classes" in subtitle
    small_view, small_names, _ = plots._confusion_view(_many_classes(plots.MANY_CLASSES))
    assert small_view.shape[0] == plots.MANY_CLASSES == len(small_names)


@pytest.mark.parametrize("k", [31, 1000])
def test_many_class_plots_are_small_valid_pngs_and_fast(k):
    from PIL import Image

    from mlflow_sanity.report import plots

    c = _many_classes(k)
    plots.confusion_matrix_png(c)  # fonts load once
    start = time.perf_counter()
    pictures = [plots.confusion_matrix_png(c), plots.class_balance_png(c)]
    assert time.perf_counter() - start < 2.0
    for png in pictures:
        img = Image.open(__import__("io").BytesIO(png))
        img.verify()
        assert max(img.size) <= 1200


def test_evaluator_on_1000_classes_stays_within_two_seconds(mlflow_experiment):
    import mlflow
    import pandas as pd

    from mlflow_sanity.adapters.evaluator import SanityEvaluator

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(1000), 3)
    pred = np.where(rng.random(y.size) < 0.3, rng.integers(0, 1000, y.size), y)
    frame = pd.DataFrame({"f0": rng.normal(size=y.size), "label": y, "pred": pred})
    own = []
    original = SanityEvaluator.evaluate

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            own.append(time.perf_counter() - start)

    SanityEvaluator.evaluate = timed
    try:
        for _ in range(2):  # the first call pays imports and template loading
            with mlflow.start_run():
                mlflow.models.evaluate(
                    data=frame,
                    targets="label",
                    predictions="pred",
                    model_type="classifier",
                    evaluators="sanity",
                )
    finally:
        SanityEvaluator.evaluate = original
    # target 2 s of sanity work; 2x slack for the shared 2-core test machines
    assert own[-1] < 4.0, own
    tags = mlflow.last_active_run().data.tags
    assert tags["sanity.status"] in ("pass", "warn", "fail")


def test_fit_and_evaluate_raise_no_deprecation_warning_from_our_code(keras, mlflow_experiment):
    """Every DeprecationWarning raised while mlflow-sanity's own code is on the stack is
    an error (the NumPy ``__array__`` copy keyword one came from reading the learning rate)."""
    import traceback

    import mlflow_sanity
    from mlflow_sanity.adapters.keras.patch import SanityWarning

    ours: list[str] = []
    other: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):
        frames = traceback.extract_stack()
        inside = any(
            "/mlflow_sanity/" in f.filename and not f.filename.endswith("test_trust.py")
            for f in frames[:-3]
        )
        if issubclass(category, DeprecationWarning) and inside:
            ours.append(f"{category.__name__}: {message} ({filename}:{lineno})")
        elif issubclass(category, SanityWarning):
            other.append(str(message))

    x, y = blobs()
    model = mlp(keras, 3, "softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mlflow_sanity.autolog(silent=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
            model.evaluate(x[:90], y[:90], verbose=0)
    finally:
        mlflow_sanity.autolog(disable=True)
    assert not ours, ours
    assert not other, other
