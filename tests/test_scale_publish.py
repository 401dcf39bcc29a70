"""The fixed cost on the default store: one report is one ``log_batch`` (the verdict's
tags, its metrics and a fit's digests together) and one artifact upload."""

from __future__ import annotations

from mlflow_sanity import check_predictions
from mlflow_sanity.tracking.publish import Target, publish

COLLAPSED = ([0] * 180 + [1] * 20, [0] * 200)


def test_one_report_is_one_batch_and_one_upload(mlflow_experiment, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    calls: dict[str, list] = {"log_batch": [], "log_artifacts": [], "set_tag": []}
    for name in calls:
        original = getattr(MlflowClient, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls[_name].append(kwargs)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(MlflowClient, name, counting)
    with mlflow.start_run() as run:
        pass
    digests = {"config": "c" * 16, "data": "d" * 16}
    publish(check_predictions(*COLLAPSED), {}, Target(run.info.run_id), what="fit", digests=digests)
    assert len(calls["log_batch"]) == 1 and len(calls["log_artifacts"]) == 1
    assert not calls["set_tag"]
    batch = calls["log_batch"][0]
    tagged = {t.key for t in batch["tags"]}
    assert {"sanity.status", "sanity.config_digest", "sanity.data_digest"} <= tagged
    assert any(m.key.startswith("sanity/") for m in batch["metrics"])
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["sanity.data_digest"] == "d" * 16 and tags["sanity.status"] == "fail"
