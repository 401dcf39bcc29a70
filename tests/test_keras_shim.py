"""Keras' private names are read in one module, each with its fallback."""

from __future__ import annotations

from types import SimpleNamespace


def test_all_layers_walks_nested_models_and_falls_back_to_layers(keras):
    from mlflow_sanity.adapters.keras import shim

    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="inner_dense")])
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(2, name="head")])
    names = {layer.name for layer in shim.all_layers(outer)}
    assert {"inner_dense", "head"} <= names
    plain = SimpleNamespace(layers=["a", "b"])  # no private walk: the public list
    assert shim.all_layers(plain) == ["a", "b"]


def test_compiled_metric_groups_exist_only_once_the_metrics_are_built(keras):
    import numpy as np

    from mlflow_sanity.adapters.keras import shim

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert shim.compiled_metric_groups(model) is None
    model.evaluate(np.zeros((4, 3), "float32"), np.zeros(4, "int64"), verbose=0)
    groups = shim.compiled_metric_groups(model)
    assert groups is not None and [weighted for weighted, _, _ in groups] == [False, True]
    assert shim.wrapped(object()) == (None, {}, False)
