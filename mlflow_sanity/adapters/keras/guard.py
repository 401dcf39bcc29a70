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
import threading
from collections.abc import Iterator

from mlflow_sanity.adapters.rng import preserved_random_state
from mlflow_sanity.core.boundary import Caught, Origin, SanityWarning, describe, settle

__all__ = ["EVALUATE_UNAFFECTED", "FIT_UNAFFECTED", "Guard", "SanityWarning", "busy", "inside"]
_LOCAL = threading.local()


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
    ``guard.close()`` once the user's call has returned. ``guard.noted(what)`` is for work
    whose failure is a note in the report (the probes' ``errors``), not a warning."""

    def __init__(self, what: str = "fit", unaffected: str = FIT_UNAFFECTED) -> None:
        self.what = what
        self.unaffected = unaffected
        self.failure: BaseException | None = None  # the first one: one warning per call
        self.notes: list[str] = []  # what ``noted`` work could not do, the first few

    @contextlib.contextmanager
    def ours(self) -> Iterator[None]:
        """Our work: the random state restored after it, an error kept instead of raised."""
        with Caught(Origin.DEFERRED, self.what) as caught, preserved_random_state():
            yield
        if caught.error is not None and self.failure is None:
            self.failure = caught.error

    @contextlib.contextmanager
    def noted(self, what: str, limit: int = 5) -> Iterator[None]:
        """Our optional work (a probe): the random state restored; an error becomes a note
        (``"train end: ValueError: ..."``), re-raised at once under strict mode."""
        with Caught(Origin.OURS, f"{self.what} {what}") as caught, preserved_random_state():
            yield
        if caught.error is not None and len(self.notes) < limit:
            self.notes.append(f"{what}: {describe(caught.error)}")

    def close(self) -> None:
        """Turn the kept error into one ``SanityWarning`` (re-raise it under strict mode)."""
        failure, self.failure = self.failure, None
        if failure is None:
            return
        settle(
            failure,
            f"mlflow-sanity could not check this {self.what} ({describe(failure)}); "
            f"{self.unaffected} not affected.",
            stacklevel=3,  # our frame: MLflow reroutes warnings attributed to its own code
        )
