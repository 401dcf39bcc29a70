"""The ``mlflow-sanity`` command: browse flagged runs, print reports, gate CI."""

from __future__ import annotations

import click

from mlflow_sanity import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-sanity")
def main() -> None:
    """Sanity checks for Keras + MLflow classifiers."""
