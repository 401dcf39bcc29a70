"""The one guard every Keras hook runs its own work under.

The promises of the hooks (``autolog``'s ``fit``/``evaluate`` wrappers and
``SanityCallback``) are the same everywhere, so they are kept in one place:

- the user's call is never broken by us: our work's first internal error is kept, the
  rest of our work still runs where it can, and the error becomes one ``SanityWarning``
  after the user's call returned (``Guard.ours`` / ``Guard.close``); under strict mode
  (``core/strict.py``: the test suite) it re-raises instead;
- the user's random state is left as we found it (``adapters/rng.preserved_random_state``);
- a ``fit``/``evaluate`` made inside a hooked call (Keras' own validation, a cause
  experiment's fits) is not hooked again (``inside`` / ``busy``: a per-thread depth).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator

from mlflow_sanity.adapters.rng import preserved_random_state
from mlflow_sanity.core.strict import strict

_log = logging.getLogger(__name__)
_LOCAL = threading.local()


class SanityWarning(UserWarning):
    """mlflow-sanity could not check a fit or evaluate. Keras itself was not affected."""


FIT_UNAFFECTED = "training and its History are"
EVALUATE_UNAFFECTED = "its return value is"


def busy() -> bool:
    """Whether this thread is already inside a hooked call (then the hook steps aside)."""
    return bool(getattr(_LOCAL, "depth", 0))


@contextlib.contextmanager
def inside() -> Iterator[None]:
    """Mark the block as inside a hooked call: ``fit``/``evaluate`` called in it are not ours."""
    _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
    try:
        yield
    finally:
        _LOCAL.depth -= 1


class Guard:
    """One hooked call: ``with guard.ours(): ...`` around each piece of our own work, then
    ``guard.close()`` once the user's call has returned."""

    def __init__(self, what: str = "fit", unaffected: str = FIT_UNAFFECTED) -> None:
        self.what = what
        self.unaffected = unaffected
        self.failure: BaseException | None = None  # the first one: one warning per call

    @contextlib.contextmanager
    def ours(self) -> Iterator[None]:
        """Our work: the random state restored after it, an error kept instead of raised."""
        try:
            with preserved_random_state():
                yield
        except Exception as exc:  # the user's fit/evaluate never fails because of us
            if self.failure is None:
                self.failure = exc

    def close(self) -> None:
        """Turn the kept error into one ``SanityWarning`` (re-raise it under strict mode)."""
        failure, self.failure = self.failure, None
        if failure is None:
            return
        if strict():
            raise failure
        _log.debug("mlflow-sanity failed", exc_info=failure)
        warnings.warn(
            f"mlflow-sanity could not check this {self.what} ({type(failure).__name__}: "
            f"{failure}); {self.unaffected} not affected.",
            SanityWarning,
            stacklevel=2,  # our frame: MLflow reroutes warnings attributed to its own code
        )
