"""``mlflow run . -e evaluate``: run the sanity evaluator on a logged model and a CSV file."""

from __future__ import annotations

import click
import mlflow
import pandas as pd

from mlflow_sanity.report.markdown import terminal_summary
from mlflow_sanity.tracking.reports import read_report


@click.command()
@click.option("--model-uri", required=True, help="e.g. runs:/<run_id>/model or models:/<id>")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", default="label", show_default=True)
@click.option("--evaluators", default="sanity", show_default=True, help="comma-separated")
def main(model_uri: str, data_path: str, target: str, evaluators: str) -> None:
    data = pd.read_csv(data_path)
    if target not in data.columns:
        raise click.UsageError(f"target column {target!r} not in {list(data.columns)}")
    with mlflow.start_run() as run:
        mlflow.models.evaluate(
            model_uri,
            data=data,
            targets=target,
            model_type="classifier",
            evaluators=evaluators.split(","),
        )
    print(terminal_summary(read_report(run.info.run_id)))


if __name__ == "__main__":
    main()
