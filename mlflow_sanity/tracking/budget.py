"""A short, documented time budget for what mlflow-sanity sends from inside ``fit``.

MLflow's HTTP client retries a failing request for minutes (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``
with exponential backoff, ``MLFLOW_HTTP_REQUEST_TIMEOUT`` seconds per attempt). Those
settings are environment variables that ``mlflow.utils.rest_utils.http_request`` reads
on every call (only the ``requests`` session is cached, keyed by the retry settings), so
``bounded()`` sets them for the duration of our own calls and restores them afterwards:

- ``MLFLOW_SANITY_HTTP_TIMEOUT`` (default 5): seconds per request attempt (whole seconds:
  MLflow parses the variable as an integer);
- ``MLFLOW_SANITY_HTTP_RETRIES`` (default 1): retries per request, no backoff sleep;
- ``MLFLOW_SANITY_PROBE_TIMEOUT`` (default 2): seconds for the reachability probe.

Before logging, ``reachable()`` sends one ``GET <server>/health`` for ``http(s)`` tracking
URIs; when it fails, the report goes to the spool (``tracking/spool.py``) without any
MLflow call. The variables are process-wide while set: a request MLflow itself sends from
another thread during our few calls gets the same short budget.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

TIMEOUT_ENV = "MLFLOW_SANITY_HTTP_TIMEOUT"
RETRIES_ENV = "MLFLOW_SANITY_HTTP_RETRIES"
PROBE_ENV = "MLFLOW_SANITY_PROBE_TIMEOUT"
_MLFLOW_KEYS = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
)
_LOCK = threading.RLock()
_DEPTH = 0
_SAVED: dict[str, str | None] = {}


def _number(name: str, default: float, minimum: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), minimum)
    except ValueError:
        return default


@dataclass(frozen=True)
class Budget:
    """Per-request limits for mlflow-sanity's own tracking calls."""

    timeout: int = 5
    retries: int = 1
    probe_timeout: float = 2.0

    @classmethod
    def from_env(cls) -> Budget:
        return cls(
            timeout=round(_number(TIMEOUT_ENV, 5, 1)),
            retries=int(_number(RETRIES_ENV, 1, 0)),
            probe_timeout=_number(PROBE_ENV, 2.0, 0.1),
        )

    def mlflow_env(self) -> dict[str, str]:
        return {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.timeout),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
        }


@contextlib.contextmanager
def bounded(budget: Budget | None = None) -> Iterator[Budget]:
    """MLflow's HTTP settings shortened to ``budget`` inside the block, restored after.

    Re-entrant: a nested block keeps the outer settings.
    """
    global _DEPTH
    budget = budget or Budget.from_env()
    with _LOCK:
        if _DEPTH == 0:
            _SAVED.clear()
            for key, value in budget.mlflow_env().items():
                _SAVED[key] = os.environ.get(key)
                os.environ[key] = value
        _DEPTH += 1
    try:
        yield budget
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                for key, old in _SAVED.items():
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old
                _SAVED.clear()


def _http_root(uri: str) -> str | None:
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return None


def reachable(uri: str, budget: Budget | None = None) -> bool:
    """Whether the tracking server at ``uri`` answers one short ``GET /health``.

    Only ``http(s)`` URIs are probed; any HTTP answer (even an error status) means the
    server is up. Local stores (``file:``, ``sqlite:``) and others count as reachable.
    """
    root = _http_root(uri)
    if root is None:
        return True
    budget = budget or Budget.from_env()
    import requests

    verify = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() not in ("true", "1")
    try:
        requests.get(f"{root}/health", timeout=budget.probe_timeout, verify=verify)
    except requests.RequestException:
        return False
    return True


_CONNECTION_MARKERS = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish a new connection",
    "Read timed out",
    "timed out",
    "RemoteDisconnected",
    "Connection aborted",
    "Connection reset",
)


def is_tracking_error(exc: BaseException) -> bool:
    """An error of the tracking server or the way to it (not a bug of ours): what strict
    mode still lets a best-effort step turn into a warning."""
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException) or is_connection_error(exc)


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) says the server could not be reached in time.

    MLflow re-raises ``requests`` errors as ``MlflowException`` with the original as
    context and its text in the message; both are looked at.
    """
    import requests

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
        ):
            return True
        if isinstance(current, requests.exceptions.RetryError):
            return True
        current = current.__cause__ or current.__context__
    text = str(exc)
    return any(marker in text for marker in _CONNECTION_MARKERS)
