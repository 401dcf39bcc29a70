"""The one guard of the Keras hooks (adapters/keras/guard.py) and the publish path's extras."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from mlflow_sanity.adapters.keras.guard import Guard, SanityWarning, busy, inside


def _raise(message: str) -> None:
    raise RuntimeError(message)


def test_first_error_becomes_one_warning_and_later_work_still_runs(lenient):
    guard = Guard("evaluate", "its return value is")
    ran = []
    with guard.ours():
        _raise("first")
    with guard.ours():
        ran.append("finish the run")
        _raise("second")
    assert ran == ["finish the run"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guard.close()
        guard.close()  # closing again warns no more
    ours = [w for w in caught if issubclass(w.category, SanityWarning)]
    assert len(ours) == 1
    assert "could not check this evaluate (RuntimeError: first)" in str(ours[0].message)
    assert "its return value is not affected" in str(ours[0].message)


def test_strict_mode_reraises_the_first_error():
    guard = Guard()
    with guard.ours():
        _raise("a bug of ours")
    with pytest.raises(RuntimeError, match="a bug of ours"):
        guard.close()


def test_a_clean_call_warns_nothing(recwarn):
    guard = Guard()
    with guard.ours():
        pass
    guard.close()
    assert not [w for w in recwarn if issubclass(w.category, SanityWarning)]


def test_our_work_leaves_the_random_state_even_when_it_fails(lenient):
    random.seed(1)
    np.random.seed(1)
    expected = (random.random(), np.random.rand())
    random.seed(1)
    np.random.seed(1)
    guard = Guard()
    with guard.ours():
        random.random(), np.random.rand()  # MLflow naming a run draws from `random`
        _raise("after drawing")
    assert (random.random(), np.random.rand()) == expected
    assert guard.failure is not None


def test_calls_inside_a_hooked_call_are_not_hooked():
    assert not busy()
    with inside():
        assert busy()
        with inside():
            assert busy()
        assert busy()
    assert not busy()
    with pytest.raises(RuntimeError), inside():
        _raise("the user's fit failed")
    assert not busy()  # the depth is restored on the way out of an error


def test_publish_extras_bug_raises_under_strict_and_warns_without(monkeypatch, caplog):
    """A bug in tagging the LoggedModel is red in the suite; for users the run keeps its
    verdict and the log says what was not tagged."""
    from mlflow_sanity.core.findings import Report
    from mlflow_sanity.tracking import models, publish

    monkeypatch.setattr(models, "tag_model", lambda *a, **k: _raise("model tag bug"))
    with pytest.raises(RuntimeError, match="model tag bug"):
        publish._extras(Report(), publish.Target("r", "m-1"), None, "fit")
    monkeypatch.delenv("MLFLOW_SANITY_STRICT")  # what users get
    publish._extras(Report(), publish.Target("r", "m-1"), None, "fit")
    assert "logged the fit report, but not its extras: model tag bug" in caplog.text
