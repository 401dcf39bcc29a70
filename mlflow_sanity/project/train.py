"""``mlflow run . -e train``: one training run of the demo task, with sanity verdicts."""

from __future__ import annotations

import click
import mlflow

from mlflow_sanity.project.digits import train_and_evaluate


@click.command()
@click.option("--l2", type=float, default=1e-4, show_default=True, help="L2 penalty per layer.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def main(l2: float, epochs: int, seed: int) -> None:
    with mlflow.start_run():
        train_and_evaluate(l2=l2, epochs=epochs, seed=seed)


if __name__ == "__main__":
    main()
