"""The pure core: plain arrays and descriptions in, a ``Report`` out.

Imports neither MLflow nor Keras (an import-linter contract checks it), so the whole
verdict logic runs and is tested on synthetic arrays.
"""
