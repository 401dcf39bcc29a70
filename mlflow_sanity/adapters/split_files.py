"""``check-split``'s domain: two data files become a check ``Context``, a report, a logged run.

The CLI parses the options, calls these and prints; a problem with the files raises a
``FileProblem`` the CLI turns into its usage or error message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.splits import Split


class FileProblem(InputError):
    """A data file that cannot be used as given; ``usage``: the option itself is wrong
    (no such file, a directory), not the file's content."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def read_table(path: Path, option: str) -> pd.DataFrame:
    """A CSV (or Parquet, by extension) file, or a ``FileProblem`` naming the option."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise FileProblem(f"{option}: no such file {str(path)!r}", usage=True) from None
    except IsADirectoryError:
        raise FileProblem(
            f"{option}: {str(path)!r} is a directory, not a file", usage=True
        ) from None
    except pd.errors.EmptyDataError:
        raise FileProblem(f"{option}: {str(path)!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileProblem(f"{option}: cannot read {str(path)!r}: {first}") from None


def split_context(train_path: Path, test_path: Path, target: str) -> tuple[Context, dict[str, Any]]:
    """The two files as a check ``Context`` (train and test splits) and the report's inputs."""
    train = read_table(train_path, "--train")
    test = read_table(test_path, "--test")
    for option, frame, path in (("--train", train, train_path), ("--test", test, test_path)):
        if target not in frame.columns:
            cols = ", ".join(map(str, list(frame.columns)[:20]))
            raise FileProblem(
                f"--target {target!r} is not a column of {option} file {str(path)!r}; "
                f"its columns are: {cols}",
                usage=True,
            )
    x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
    same_features(list(x_train.columns), list(x_test.columns))
    if x_train.empty or x_test.empty:
        raise FileProblem("train and test need at least one row and one feature column")
    ctx = Context(
        train=Split(x_train, train[target].to_numpy(), "train"),
        test=Split(x_test[list(x_train.columns)], test[target].to_numpy(), "test"),
    )
    inputs = {
        "train": str(train_path),
        "test": str(test_path),
        "target": target,
        "train_rows": len(train),
        "test_rows": len(test),
        "n_features": x_train.shape[1],
    }
    return ctx, inputs


def same_features(train_columns: list[Any], test_columns: list[Any]) -> None:
    """Raise a ``FileProblem`` naming the columns only one side has."""
    missing = [c for c in train_columns if c not in test_columns]
    extra = [c for c in test_columns if c not in train_columns]
    parts = [
        f"missing in --test: {missing[:10]}" if missing else "",
        f"only in --test: {extra[:10]}" if extra else "",
    ]
    if missing or extra:
        raise FileProblem(
            "train and test have different feature columns: " + "; ".join(p for p in parts if p)
        )


def check_split(
    ctx: Context,
    inputs: Mapping[str, Any],
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    disable: Iterable[str] = (),
) -> Report:
    """The leakage report on the two splits (unknown ids or thresholds: ``ValueError``)."""
    from mlflow_sanity.pipeline import build_report

    return build_report(
        ctx, thresholds=thresholds, disable=disable, source="check-split", inputs=inputs
    )


def log_split(ctx: Context, report: Report, run_id: str | None, experiment: str | None) -> str:
    """Publish the report and the training fingerprint to ``run_id``, or to a new run (in
    ``experiment``); the run id. MLflow's errors propagate (the verdict was printed)."""
    from mlflow_sanity.checks.leakage import training_fingerprint
    from mlflow_sanity.tracking.publish import Target, publish, publish_to_new_run

    fp = training_fingerprint(ctx)
    files = fp[0].to_files("train") if fp else {}
    if run_id:
        publish(report, files, Target(run_id), what="check-split", offline="raise")
        return run_id
    return publish_to_new_run(
        report, files, what="check-split", experiment=experiment, run_name="check-split"
    )
