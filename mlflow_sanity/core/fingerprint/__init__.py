"""Row fingerprints: find evaluation rows that also occur in training data, without the data.

A ``Fingerprint`` summarises a table in 8 bytes per row plus a few numbers per column,
so autolog can log it at the end of ``fit`` and the evaluator can later test new data
against it without keeping the training set. NumPy/pandas, vectorised (large numeric
tables: one compiled pass, ``kernel``), no pickle.

Row hash layout (one ``uint64`` per row)::

    bits 63..8  hash of the row's (quantised) feature values
    bits  7..0  hash of the row's label (0 when no labels were given)

so matching "with label" compares whole hashes and matching "features only" compares
``hash >> 8``. The feature part is ``mix(sum_j mix(code_j ^ salt_j))``: an additive
combination of per-column hashes, which lets a probe swap one column's code cheaply.

Column kinds (decided on the fingerprinted data, reused for data matched against it):

- ``continuous`` (numbers with non-integral values): the value is snapped to a grid of
  width ``step = tolerance * scale`` (``rint(x / step)``), ``scale`` being the column's
  largest absolute training value and ``tolerance`` 2e-5 by default. Float noise (a
  float32 cast, re-scaling, CSV round trips) moves a value far less than a step. A value
  closer than ``step / 128`` to a cell boundary is also looked up in the neighbouring
  cell (a probe), so rows whose every column differs by at most ``step / 128`` (1.6e-7
  of the scale by default: more than float32 rounding) always match, and rows with a
  column differing by more than ``step * 129 / 128`` never match; in between it depends
  on where the grid falls.
- ``exact`` (integral numbers, booleans): compared exactly; rounding would merge ids.
- ``datetime`` / ``timedelta``: compared exactly at nanosecond resolution (UTC).
- ``text`` (strings, categories, mixed objects): the ``str()`` of each value (UTF-8 bytes
  decoded first: ``b"red"`` from ``tf.data`` equals ``"red"``), hashed
  with ``pandas.util.hash_array``.

Missing values (NaN, None, NaT) share one code, so NaN equals NaN; ``-0.0`` equals
``0.0``. Two different rows collide with probability about ``2**-56`` per pair, and two
different labels share a label byte with probability 1/256.

Modules, one job each: ``hashing`` (the mixing arithmetic, the probes), ``encode``
(values as codes, the input table, the pass that hashes every row), ``kernel`` (that
pass compiled with numba for large numeric tables, bit for bit the same hashes; only
imported for them), ``statistics`` (column statistics, collision rates), ``table``
(``Fingerprint``, ``compute``, ``grid_rows``), ``matching`` (lookups), ``files``
(serialisation). The public names are all importable from this package.

API: ``compute(features, labels=None, *, tolerance=2e-5) -> Fingerprint``;
``Fingerprint.match(features, labels=None, *, rows=None) -> Match`` (``rows``: look up
only those rows, a sample); ``Fingerprint.to_files(role)``
-> ``{"fingerprint_<role>.npy": ..., "fingerprint_<role>.json": ...}`` and
``Fingerprint.from_files(files, role=None)``. A cheaper read of one table for counting
repeated rows: ``grid_rows(features)`` (row hashes, collision rates on demand); the rows
a lookup read, as a fingerprint on the looked-up grid with their own statistics:
``rows_fingerprint(fp, features, match)`` (no second pass over the rows' hashes).
"""

from mlflow_sanity.core.fingerprint.encode import (
    CHUNK_ROWS,
    COLLISION_SAMPLE,
    DEFAULT_TOLERANCE,
    KINDS,
    MATCH_CHUNK_ROWS,
    MAX_PROBED_COLUMNS,
    PROBE_MARGIN,
    as_frame,
)
from mlflow_sanity.core.fingerprint.files import FORMAT_VERSION
from mlflow_sanity.core.fingerprint.hashing import _digest
from mlflow_sanity.core.fingerprint.matching import (
    Match,
    align,
    match,
    rows_fingerprint,
    same_rows,
)
from mlflow_sanity.core.fingerprint.table import Fingerprint, GridRows, compute, grid_rows

__all__ = [
    "CHUNK_ROWS",
    "COLLISION_SAMPLE",
    "DEFAULT_TOLERANCE",
    "FORMAT_VERSION",
    "KINDS",
    "MATCH_CHUNK_ROWS",
    "MAX_PROBED_COLUMNS",
    "PROBE_MARGIN",
    "Fingerprint",
    "GridRows",
    "Match",
    "_digest",
    "align",
    "as_frame",
    "compute",
    "grid_rows",
    "match",
    "rows_fingerprint",
    "same_rows",
]
