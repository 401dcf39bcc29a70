"""The Keras adapter: patching (``patch``), reading inputs (``inputs``), describing the
model (``describe``), predicting and analysing (``analyse``). Imports Keras."""

from mlflow_sanity.adapters.keras.patch import SanityCallback, SanityWarning, autolog

__all__ = ["SanityCallback", "SanityWarning", "autolog"]
