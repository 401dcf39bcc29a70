"""The seed runner end to end against a SQLite store: children, aggregates, executors, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import click
import mlflow
import numpy as np
import pytest
import seed_train_fns as fns
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from scipy import stats

from mlflow_sanity.adapters.seeds.sweep import resolve_seeds, seed_sweep
from mlflow_sanity.cli import main
from mlflow_sanity.core.findings import Severity

TESTS = Path(__file__).parent
ROOT = TESTS.parent
AGG = ("mean", "std", "min", "max", "ci_low", "ci_high")


def children_of(parent_id: str) -> dict[int, mlflow.entities.Run]:
    client = MlflowClient()
    exp = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    return {int(r.data.tags["sanity.seed"]): r for r in runs}


def assert_aggregates_match(parent_id: str, children: dict) -> None:
    """Every aggregate on the parent equals numpy/scipy on the children's logged values."""
    parent = MlflowClient().get_run(parent_id).data.metrics
    ok = [r for r in children.values() if r.info.status == "FINISHED"]
    names = set.intersection(*(set(r.data.metrics) for r in ok))
    assert names
    for name in names:
        x = np.array([r.data.metrics[name] for r in ok])
        low, high = (x.mean(), x.mean())
        if x.std() > 0:
            low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        expected = dict(
            zip(AGG, (x.mean(), x.std(ddof=1), x.min(), x.max(), low, high), strict=True)
        )
        for suffix, value in expected.items():
            key = f"sanity/seed/{name}_{suffix}"
            assert parent[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_four_seeds_two_workers_one_sqlite_store(mlflow_experiment, capsys):
    summary = seed_sweep(fns.stable, 4, executor="local", max_workers=2, run_name="sweep")
    client = MlflowClient()
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    children = children_of(summary.parent_run_id)
    assert sorted(children) == [0, 1, 2, 3]
    for seed, run in children.items():
        assert run.info.status == "FINISHED"
        assert run.data.params["seed"] == str(seed)
        assert run.info.run_name == f"sweep-seed-{seed}"
        # all metrics the (model, x, y) evaluation produced reached the child run
        assert run.data.metrics == pytest.approx(summary.outcomes[seed].metrics)
        assert {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc"} <= set(run.data.metrics)
    # the children ran in two reused worker processes, not one per seed
    assert len({o.pid for o in summary.outcomes}) <= 2
    assert_aggregates_match(summary.parent_run_id, children)
    m = parent.data.metrics
    assert (m["sanity/seed/n_ok"], m["sanity/seed/n_failed"]) == (4, 0)
    # a healthy setup raises no alarm
    assert parent.data.tags["sanity.status"] == "pass"
    assert parent.data.tags["sanity.findings"] == ""
    assert summary.report.get("seed_variance").severity is Severity.PASSED
    assert parent.data.params["sanity.metric"] == "accuracy"
    artifacts = {Path(a.path).name for a in client.list_artifacts(summary.parent_run_id, "sanity")}
    assert {"seed_spread.png", "report.json", "report.html"} <= artifacts
    out = capsys.readouterr()
    assert "mean±std" in out.out and "mlflow-sanity status: PASS" in out.out
    assert "accuracy" in out.err and "±" in out.err  # running mean ± std per finished seed


def test_unstable_training_flags_seed_variance_stable_does_not(mlflow_experiment):
    unstable = seed_sweep(fns.unstable, 5, executor="sequential", progress=False)
    stable = seed_sweep(fns.stable, 5, executor="sequential", progress=False)
    f = unstable.report.get("seed_variance")
    assert f.severity.flagged, f.message
    tags = MlflowClient().get_run(unstable.parent_run_id).data.tags
    assert tags["sanity.finding.seed_variance"] == f.severity.value
    assert "seed_variance" in tags["sanity.findings"]
    assert stable.report.get("seed_variance").severity is Severity.PASSED
    assert stable.status == "pass"


def test_failing_seed_is_reported_and_does_not_hide_the_others(mlflow_experiment):
    summary = seed_sweep(fns.fails_on_two, 4, executor="sequential", progress=False)
    children = children_of(summary.parent_run_id)
    assert sorted(children) == [0, 1, 2, 3]
    failed = children[2]
    assert failed.info.status == "FAILED"
    assert "ValueError: boom on seed 2" in failed.data.tags["sanity.error"]
    assert "Traceback" in failed.data.tags["mlflow.note.content"]
    assert all(children[s].info.status == "FINISHED" for s in (0, 1, 3))
    assert set(children[0].data.metrics) == {"accuracy", "loss"}  # "note" is not a number
    parent = MlflowClient().get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["sanity/seed/n_failed"] == 1
    assert parent.data.metrics["sanity/seed/n_ok"] == 3
    assert_aggregates_match(summary.parent_run_id, children)
    assert summary.n_failed == 1 and "FAILED" in summary.table()


def test_dead_worker_fails_only_its_seed(mlflow_experiment):
    summary = seed_sweep(fns.dies_on_one, 3, executor="local", max_workers=2, progress=False)
    children = children_of(summary.parent_run_id)
    assert children[1].info.status == "FAILED"
    assert "WorkerDied" in children[1].data.tags["sanity.error"]
    assert children[0].info.status == children[2].info.status == "FINISHED"
    metrics = MlflowClient().get_run(summary.parent_run_id).data.metrics
    assert (metrics["sanity/seed/n_ok"], metrics["sanity/seed/n_failed"]) == (2, 1)


def test_every_seed_failing_fails_the_parent(mlflow_experiment):
    summary = seed_sweep(lambda seed: 1 / 0, 2, executor="sequential", progress=False)
    assert MlflowClient().get_run(summary.parent_run_id).info.status == "FAILED"
    assert summary.report.get("seed_variance").severity is Severity.INFO


def test_unseeded_shuffle_is_flagged_seeded_one_is_not(mlflow_experiment):
    bad = seed_sweep(
        fns.unseeded_shuffle, 2, executor="sequential", deterministic=True, keras=False
    )
    good = seed_sweep(fns.seeded_shuffle, 2, executor="sequential", deterministic=True, keras=False)
    f = bad.report.get("nondeterminism")
    assert f.severity is Severity.WARN and "coef_norm" in f.evidence["differing"]
    assert good.report.get("nondeterminism").severity is Severity.PASSED
    # the repeat is a check, not a seed: no extra child run, not in the aggregates
    assert sorted(children_of(bad.parent_run_id)) == [0, 1]
    assert bad.aggregates["seed/n_ok"] == 2


@pytest.mark.keras
def test_keras_same_seed_deterministic_on_cpu_reproduces(mlflow_experiment):
    pytest.importorskip("tensorflow")
    summary = seed_sweep(
        fns.keras_small,
        [0],
        executor="local",
        max_workers=1,
        deterministic=True,
        keras=True,  # keras_small imports Keras lazily, so say it is used
        progress=False,
    )
    f = summary.report.get("nondeterminism")
    assert f.severity is Severity.PASSED, f.message
    assert summary.repeat.metrics == summary.outcomes[0].metrics
    assert summary.repeat.pid == summary.outcomes[0].pid  # one worker, TensorFlow loaded once


def test_sweep_nests_under_the_active_run(mlflow_experiment):
    with mlflow.start_run() as outer:
        summary = seed_sweep(fns.metrics_dict, 2, executor="sequential", progress=False)
    parent = MlflowClient().get_run(summary.parent_run_id)
    assert parent.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert parent.info.experiment_id == mlflow_experiment


def test_bad_arguments_fail_before_any_run_is_created(mlflow_experiment):
    with pytest.raises(TypeError, match="module level"):
        seed_sweep(lambda seed: {"accuracy": 1.0}, 2, executor="local")
    with pytest.raises(ValueError, match="executor"):
        seed_sweep(fns.metrics_dict, 2, executor="threads")
    assert MlflowClient().search_runs([mlflow_experiment]) == []
    assert resolve_seeds(3) == [0, 1, 2] and resolve_seeds([7, 42]) == [7, 42]
    for bad in (0, [], [1, 1], [-1], [True]):
        with pytest.raises((TypeError, ValueError)):
            resolve_seeds(bad)


def test_ray_executor_on_a_local_ray_instance(mlflow_experiment, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'mlflow-sanity[ray]'")
    # Ray workers inherit the environment: let them import the package and these fns.
    path = os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = seed_sweep(fns.fails_on_two, 4, executor="ray", progress=False)
        assert ray.is_initialized()  # a cluster the caller started is left running
    finally:
        ray.shutdown()
    children = children_of(summary.parent_run_id)
    assert sorted(children) == [0, 1, 2, 3]
    assert children[2].info.status == "FAILED"
    assert summary.n_ok == 3
    assert_aggregates_match(summary.parent_run_id, children)


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}, {root!r}]
    import seed_train_fns

    if __name__ == "__main__":
        import mlflow
        from mlflow_sanity.adapters.seeds.sweep import seed_sweep

        mlflow.set_tracking_uri({uri!r})
        mlflow.set_experiment(experiment_id={exp!r})
        seed_sweep(seed_train_fns.sleeps, 2, executor="local", max_workers=2, progress=False)
    """
)


def test_ctrl_c_stops_workers_and_kills_the_parent_run(mlflow_experiment, tracking_uri, tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(
        CTRL_C_SCRIPT.format(
            tests=str(TESTS), root=str(ROOT), uri=tracking_uri, exp=mlflow_experiment
        )
    )
    env = {**os.environ, "SEED_PID_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*.pid"))) < 2:  # both workers are training
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "workers never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert b"KeyboardInterrupt" in proc.stderr.read()
    runs = MlflowClient().search_runs([mlflow_experiment])
    assert [r.info.status for r in runs] == ["KILLED"]  # the parent; no child finished
    for pid_file in tmp_path.glob("*.pid"):
        pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


TRAIN_SCRIPT = """
import argparse, sys
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--shift", type=float, default=0.0)
args = parser.parse_args()
if args.seed == 2:
    sys.exit("seed 2 always crashes")
import mlflow
with mlflow.start_run():  # the run `mlflow.projects.run` created, via MLFLOW_RUN_ID
    mlflow.log_metric("accuracy", 0.8 + 0.01 * args.seed + args.shift)
    mlflow.log_metric("majority_baseline_accuracy", 0.5)
"""


def test_multiseed_entry_point_runs_children_through_mlflow_projects(
    mlflow_experiment, tmp_path, monkeypatch
):
    (tmp_path / "train.py").write_text(TRAIN_SCRIPT)
    (tmp_path / "MLproject").write_text(
        textwrap.dedent(
            f"""
            name: seedproj
            entry_points:
              train:
                parameters:
                  seed: {{type: int, default: 0}}
                  shift: {{type: float, default: 0.0}}
                command: "{sys.executable} train.py --seed {{seed}} --shift {{shift}}"
            """
        )
    )
    # as under `mlflow run . -e multiseed`: this entry point's own run is the parent
    parent = MlflowClient().create_run(mlflow_experiment).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", parent)
    args = ["multiseed", "--entry-point", "train", "--seeds", "3", "--project-uri", str(tmp_path)]
    # --shift is passed through to the entry point; --metric is multiseed's own option
    result = CliRunner().invoke(main, [*args, "--shift", "0.05", "--metric", "accuracy"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    children = children_of(parent)
    assert sorted(children) == [0, 1, 2]
    assert children[2].info.status == "FAILED" and "sanity.error" in children[2].data.tags
    for seed in (0, 1):
        run = children[seed]
        assert run.info.status == "FINISHED"
        assert run.data.params["seed"] == str(seed) and run.data.params["shift"] == "0.05"
        assert "metric" not in run.data.params
        assert run.data.metrics["accuracy"] == pytest.approx(0.85 + 0.01 * seed)
    run = MlflowClient().get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["sanity/seed/n_failed"] == 1
    assert run.data.metrics["sanity/seed/accuracy_mean"] == pytest.approx(0.855)
    assert run.data.tags["sanity.status"] == "pass"  # 0.85/0.86 vs a 0.5 baseline
    report = json.loads(
        Path(
            MlflowClient().download_artifacts(parent, "sanity/report.json", str(tmp_path))
        ).read_text()
    )
    assert report["inputs"]["entry_point"] == "train"


def test_ctrl_c_in_sequential_mode_kills_the_parent(mlflow_experiment):
    def interrupted(seed):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        seed_sweep(interrupted, 2, executor="sequential", progress=False)
    runs = MlflowClient().search_runs([mlflow_experiment])
    assert [r.info.status for r in runs] == ["KILLED"]


class _ScoresModel:
    """Stands in for a Keras model: predict returns class scores, no predict_proba."""

    def __init__(self, outputs):
        self.outputs = np.asarray(outputs)

    def predict(self, x, verbose=0):
        return self.outputs


def test_model_results_are_scored_like_the_evaluator():
    from mlflow_sanity.adapters.seeds.worker import to_metrics

    y = np.array([0, 1, 1, 0])
    softmax = _ScoresModel([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    metrics, _ = to_metrics((softmax, None, y))
    assert metrics["accuracy"] == 0.75 and metrics["majority_baseline_accuracy"] == 0.5
    assert "roc_auc" in metrics and "n_rows" not in metrics
    labels, _ = to_metrics((_ScoresModel([0, 1, 0, 0]), None, np.eye(2)[y]))  # one-hot y
    assert labels["accuracy"] == 0.75 and "roc_auc" not in labels
    with pytest.raises(TypeError, match="dict of metrics"):
        to_metrics([0.9])
    with pytest.raises(ValueError, match="no numeric metrics"):
        to_metrics({"name": "x"})


def test_multiseed_parameter_parsing():
    from mlflow_sanity.cli import _parse_params

    parsed = _parse_params(("lr=0.1", "name=a=b"), ["--epochs", "3", "--batch=32"])
    assert parsed == {"lr": "0.1", "name": "a=b", "epochs": "3", "batch": "32"}
    for params, extra, why in (
        (("lr",), [], "KEY=VALUE"),
        ((), ["epochs"], "unexpected"),
        ((), ["--epochs"], "no value"),
    ):
        with pytest.raises(click.UsageError, match=why):
            _parse_params(params, extra)


def test_train_fn_that_workers_cannot_import_fails_every_seed_with_the_reason(
    mlflow_experiment, monkeypatch
):
    import types

    ghost = types.ModuleType("ghost_module_only_in_this_process")
    exec("def train(seed):\n    return {'accuracy': 1.0}", ghost.__dict__)
    monkeypatch.setitem(sys.modules, ghost.__name__, ghost)
    summary = seed_sweep(ghost.train, 2, executor="local", max_workers=1, progress=False)
    assert summary.n_failed == 2
    assert all("could not be loaded in the worker" in o.error for o in summary.outcomes)
    assert MlflowClient().get_run(summary.parent_run_id).info.status == "FAILED"


def test_only_the_tracking_package_imports_mlflow():
    """The seed runner and the CLI reach MLflow through mlflow_sanity.tracking only."""
    import ast

    package = ROOT / "mlflow_sanity"
    files = [
        *sorted((package / "adapters" / "seeds").glob("*.py")),
        *(package / "cli").glob("*.py"),
    ]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "mlflow", f"{path.name} imports {name}"


def test_worker_module_does_not_load_mlflow():
    """Spawned workers import the worker module first: it must stay free of MLflow."""
    code = (
        "import sys; import mlflow_sanity.adapters.seeds.worker; sys.exit('mlflow' in sys.modules)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
