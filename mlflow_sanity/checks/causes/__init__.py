"""Why is accuracy stuck? Checks that name a training cause and its fix.

They read what the Keras adapter measured during and after ``fit`` as plain data
(``FitSpec.probes``, ``FitSpec.inputs``, ``FitSpec.label_values``: see
``core/keras_spec.py``) and the per-epoch history; no Keras here. Each one ``explains``
the symptom findings (``accuracy_at_baseline``, ``loss_accuracy_divergence``,
``prediction_collapse``): when both flag, the report leads with the cause. The five
that only name a risk (``unscaled_inputs``, ``learning_rate``, ``dead_units``,
``vanishing_gradients``, ``undertrained``) are ``needs_symptom``: without a flagged
symptom the registry's one rule (``judge_causes``) makes them ``info``; an experiment
(``adapters/keras/proofs.py``) can confirm or refute them.
"""

# The order registers the checks (the registry runs and lists them in it).
# isort: off
from mlflow_sanity.checks.causes import inputs  # noqa: F401
from mlflow_sanity.checks.causes import nonfinite  # noqa: F401
from mlflow_sanity.checks.causes import learning_rate  # noqa: F401
from mlflow_sanity.checks.causes import units  # noqa: F401
from mlflow_sanity.checks.causes import length  # noqa: F401
from mlflow_sanity.checks.causes import labels  # noqa: F401
# isort: on
