"""The ``mlflow-sanity`` command group, and how a command says an error from outside.

The commands live beside it (``runs``, ``split``, ``seeds``): each parses its options,
calls an adapter or tracking function, and prints. No domain logic here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click

from mlflow_sanity._version import __version__
from mlflow_sanity.core.boundary import Caught, Origin

_KEY_METRICS = ("accuracy", "balanced_accuracy", "mcc", "min_class_recall")


@contextlib.contextmanager
def _outside(prefix: str, code: int = 1) -> Iterator[None]:
    """An unreachable server, an unknown run...: ``prefix: why`` and exit ``code`` (1 or 2),
    not a traceback. The command's own exits and messages pass through."""
    with Caught(Origin.OUTSIDE, only=lambda e: not isinstance(e, click.ClickException)) as c:
        yield
    if c.error is not None:
        if code == 1:
            raise click.ClickException(f"{prefix}: {c.error}") from None
        click.echo(f"error: {prefix}: {c.error}", err=True)
        sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-sanity")
def main() -> None:
    """Sanity checks for Keras + MLflow classifiers."""
