"""The one boundary for errors: which exceptions mlflow-sanity absorbs, and what they become.

Every place that catches broadly goes through here (a test walks the package and fails on a
broad ``except`` anywhere else), so one rule decides, by where the error came from:

- ``Origin.USER``: the user's own code (their ``fit``, their ``train_fn``) raised. It passes
  through untouched: we never hide or rewrap the user's exceptions.
- ``Origin.MODEL``: the user's model raised during a forward pass *we* made (predicting on
  probe rows, a cause experiment's copy). It becomes a ``UserModelError``, absorbed: the
  caller records the evidence as missing (coverage partial), never as a pass.
- ``Origin.OUTSIDE``: a server, a file or a library at the edge (MLflow unreachable, a model
  that cannot be pickled, an unknown input graph). Absorbed and said by the caller, in strict
  mode too: it is the world, not a bug of ours.
- ``Origin.OURS``: our own work failed: a bug. Users get it once as a warning (or a
  ``crashed`` record), the test suite (strict mode, ``core/strict.py``) gets a red test.
  ``InputError`` (data a check cannot use) is not a bug and is absorbed in strict mode too.

``KeyboardInterrupt``/``SystemExit`` are never absorbed. See docs/architecture.md, "Errors".
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from enum import Enum
from types import TracebackType
from typing import TypeVar

from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.strict import strict

_log = logging.getLogger("mlflow_sanity")
T = TypeVar("T")


class SanityWarning(UserWarning):
    """mlflow-sanity could not check a fit or evaluate. Keras itself was not affected."""


class Origin(str, Enum):
    """Where an error came from: decides whether it is absorbed (see the module docstring)."""

    USER = "user"
    MODEL = "model"
    OUTSIDE = "outside"
    OURS = "ours"


class UserModelError(Exception):
    """The user's model raised during a forward pass mlflow-sanity made: missing evidence."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(describe(error))
        self.error = error


def describe(exc: BaseException) -> str:
    """``ValueError: bad shape``: how a record or a warning names an error."""
    if isinstance(exc, UserModelError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def absorbs(exc: BaseException, origin: Origin) -> bool:
    """The one rule: is ``exc``, raised from ``origin``, absorbed (True) or raised?"""
    if not isinstance(exc, Exception):
        return False  # Ctrl-C, SystemExit, a generator closing
    if origin is Origin.USER:
        return False
    if origin is Origin.OURS:
        return isinstance(exc, InputError) or not strict()
    return True


class Caught:
    """``with Caught(origin) as caught: ...``; afterwards ``caught.error`` is the absorbed
    error (None when the block ran through). ``only`` narrows what is absorbed (an
    unreachable server, not every MLflow error); anything else propagates."""

    def __init__(
        self,
        origin: Origin = Origin.OURS,
        where: str = "",
        *,
        only: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.origin = origin
        self.where = where
        self.only = only
        self.error: Exception | None = None

    def __enter__(self) -> Caught:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not absorbs(exc, self.origin):
            return False
        if self.only is not None and not self.only(exc):
            return False
        assert isinstance(exc, Exception)
        if self.origin is Origin.MODEL and not isinstance(exc, UserModelError):
            wrapped = UserModelError(exc)
            wrapped.__cause__ = exc
            exc = wrapped
        self.error = exc
        if self.where:
            _log.debug("mlflow-sanity: %s failed (%s)", self.where, self.origin.value, exc_info=exc)
        return True

    @property
    def failed(self) -> bool:
        return self.error is not None


def attempt(fn: Callable[[], T], default: T, origin: Origin = Origin.OURS, where: str = "") -> T:
    """``fn()``, or ``default`` when it raised an error ``origin``'s rule absorbs."""
    with Caught(origin, where):
        return fn()
    return default


@contextlib.contextmanager
def on_error(cleanup: Callable[[], object]) -> Iterator[None]:
    """Run ``cleanup`` when the block raises anything (Ctrl-C included), then re-raise:
    a pool shut down, a run ended, never an error absorbed."""
    ok = False
    try:
        yield
        ok = True
    finally:
        if not ok:
            cleanup()


_WARNED: set[str] = set()


def warn_once(key: str, message: str, *, stacklevel: int = 3) -> None:
    """One ``SanityWarning`` per ``key`` and process: our bug said once, not per call."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, SanityWarning, stacklevel=stacklevel)
