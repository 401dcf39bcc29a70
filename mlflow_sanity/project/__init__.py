"""Entry points of the top-level MLproject (``mlflow run .``); see /MLproject."""
