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

import logging
import warnings
from collections.abc import Callable
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
    # Our work inside the user's call: kept whatever the mode, so the user's call finishes;
    # ``settle`` then re-raises it (strict) or warns, once the user's call has returned.
    DEFERRED = "deferred"


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
    return True  # MODEL, OUTSIDE, DEFERRED (settled later)


def settle(error: BaseException | None, message: str, *, stacklevel: int = 3) -> None:
    """A deferred error of ours (``Origin.DEFERRED``), now that the user's call returned:
    re-raised under strict mode, else one ``SanityWarning`` saying ``message``."""
    if error is None:
        return
    if strict() and not isinstance(error, InputError):
        raise error
    _log.debug("mlflow-sanity failed", exc_info=error)
    warnings.warn(message, SanityWarning, stacklevel=stacklevel)


class Caught:
    """``with Caught(origin) as caught: ...``; afterwards ``caught.error`` is the absorbed
    error (None when the block ran through). ``only`` narrows what is absorbed (an
    unreachable server, not every MLflow error); anything else propagates. ``outside``
    says which errors of our work are the world's (an MLflow error while we tag a run):
    those count as ``Origin.OUTSIDE``, the rest as ``origin``."""

    def __init__(
        self,
        origin: Origin = Origin.OURS,
        where: str = "",
        *,
        only: Callable[[BaseException], bool] | None = None,
        outside: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.origin = origin
        self.where = where
        self.only = only
        self.outside = outside
        self.error: Exception | None = None
        self.raised: Exception | None = None  # what was raised (``error`` may wrap it)

    def __enter__(self) -> Caught:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None:
            return False
        origin = self.origin
        if self.outside is not None and isinstance(exc, Exception) and self.outside(exc):
            origin = Origin.OUTSIDE
        if not absorbs(exc, origin):
            return False
        if self.only is not None and not self.only(exc):
            return False
        assert isinstance(exc, Exception)
        self.raised = exc
        if origin is Origin.MODEL and not isinstance(exc, UserModelError):
            wrapped = UserModelError(exc)
            wrapped.__cause__ = exc
            exc = wrapped
        self.error = exc
        if self.where:
            _log.debug("mlflow-sanity: %s failed (%s)", self.where, origin.value, exc_info=exc)
        return True

    @property
    def failed(self) -> bool:
        return self.error is not None


def attempt(fn: Callable[[], T], default: T, origin: Origin = Origin.OURS, where: str = "") -> T:
    """``fn()``, or ``default`` when it raised an error ``origin``'s rule absorbs."""
    with Caught(origin, where):
        return fn()
    return default


class on_error:  # lower case: used as a ``with`` statement, like contextlib's
    """``with on_error(cleanup): ...``: run ``cleanup(exc)`` when the block raises anything
    (Ctrl-C included), then let it propagate: a pool shut down, a run ended as FAILED,
    never an error absorbed."""

    def __init__(self, cleanup: Callable[[BaseException], object]) -> None:
        self.cleanup = cleanup

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is not None:
            self.cleanup(exc)
        return False


_WARNED: set[str] = set()


def warn_once(key: str, message: str, *, stacklevel: int = 3) -> None:
    """One ``SanityWarning`` per ``key`` and process: our bug said once, not per call."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, SanityWarning, stacklevel=stacklevel)
