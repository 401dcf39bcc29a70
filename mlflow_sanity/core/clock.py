"""The one wall clock for run times: milliseconds since the epoch, as MLflow stores them.

Pure (no MLflow), so that seed worker processes can stamp their outcomes with it too.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
