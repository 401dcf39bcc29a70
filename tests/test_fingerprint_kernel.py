"""The compiled row hashing (``core/fingerprint/kernel.py``) against the NumPy pass, the
reference: the same hashes, probes, lookups and fingerprints, bit for bit, on the data
where they could part (NaN, infinities, -0.0, clipped values, values on a cell
boundary, float32/float64/int, exact and continuous columns, 1 to 70 columns, chunk
boundaries), so fingerprints logged by either path keep matching."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.fingerprint import encode
from mlflow_sanity.core.fingerprint.encode import _Encoder, _Table
from mlflow_sanity.core.fingerprint.matching import _align


def _specials(x: np.ndarray, rng: np.random.Generator, steps: np.ndarray) -> np.ndarray:
    """``x`` with NaN, +-inf, -0.0, values far past the grid's clip and values near a
    cell boundary (within and just outside the probe margin) scattered in."""
    x = x.copy()
    n, d = x.shape
    for value in (np.nan, np.inf, -np.inf, -0.0, 1e30, -1e300):
        x[rng.integers(0, n, n // 20), rng.integers(0, d, n // 20)] = value
    rows, cols = rng.integers(0, n, n // 5), rng.integers(0, d, n // 5)
    cells = rng.integers(-1000, 1000, rows.size) + 0.5
    off = rng.choice([-0.006, -0.002, 0.0, 0.002, 0.006, 0.49], rows.size)
    x[rows, cols] = (cells + off) * np.where(steps[cols] > 0, steps[cols], 1.0)
    return x


def _paths(fp: fpm.Fingerprint, features, near: bool = True):
    assert encode._load_kernel() is not None  # else both would be the NumPy pass
    table = _align(fp, _Table(features))
    enc = _Encoder(fp.kinds, fp.steps)
    return [enc.hash_rows(table, near, compiled=compiled) for compiled in (False, True)]


def _assert_same(a, b) -> None:
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
        assert left.dtype == right.dtype


def _data(kind: str, rng: np.random.Generator):
    n = 3000
    if kind == "float32, 20 columns":
        return rng.normal(size=(n, 20)).astype(np.float32)
    if kind == "float64, 1 column":
        return rng.normal(size=(n, 1)) * 1e4
    if kind == "int64":
        return rng.integers(-50, 50, size=(n, 4))
    if kind == "70 columns":  # more than one 64-column mask per row
        return rng.uniform(-1, 1, size=(n, 70))
    frame = pd.DataFrame(rng.normal(size=(n, 3)) * 5, columns=["a", "b", "c"])
    return frame.assign(i=rng.integers(0, 9, n), j=rng.integers(0, 2, n).astype(float))


KINDS = ["float32, 20 columns", "float64, 1 column", "int64", "70 columns", "frame"]


@pytest.mark.parametrize("kind", KINDS)
def test_compiled_pass_equals_the_numpy_pass(kind: str, monkeypatch) -> None:
    monkeypatch.setattr(encode, "MATCH_CHUNK_ROWS", 997)  # rows across NumPy chunks
    rng = np.random.default_rng(KINDS.index(kind))
    train = _data(kind, rng)
    fp = fpm.compute(train)
    values = np.asarray(train, dtype=np.float64)
    test = _specials(values, rng, np.asarray(fp.steps))
    if isinstance(train, pd.DataFrame):
        test = pd.DataFrame(test, columns=train.columns)
    elif train.dtype.kind == "f":
        with np.errstate(over="ignore"):  # -1e300 as float32: -inf
            test = test.astype(train.dtype)
    for features in (train, test):
        numpy_pass, compiled_pass = _paths(fp, features)
        _assert_same(numpy_pass, compiled_pass)
    assert compiled_pass[1].size or "continuous" not in fp.kinds  # probes exercised
    _assert_same(_paths(fp, test, near=False)[0][:1], _paths(fp, test, near=False)[1][:1])


def test_lookups_and_fingerprints_are_the_same_either_way(monkeypatch) -> None:
    rng = np.random.default_rng(7)
    train = rng.normal(size=(4000, 6))
    labels = rng.integers(0, 3, 4000)
    test = _specials(rng.normal(size=(2000, 6)), rng, np.full(6, 1e-4))
    test[:500] = train[:500]  # copies, found either way
    results = []
    for threshold in (10**12, 0):  # NumPy everywhere, then the compiled pass everywhere
        monkeypatch.setattr(encode, "KERNEL_MIN_VALUES", threshold)
        monkeypatch.setattr(encode, "KERNEL_MIN_KEYS", threshold)  # the index too
        monkeypatch.setattr(encode, "KERNEL_LOAD_VALUES", threshold)
        fp = fpm.compute(train, labels)
        m = fp.match(test, labels[:2000])
        rows = fpm.rows_fingerprint(fp, test, m)
        results.append((fp, m, rows))
    (fp_a, m_a, rows_a), (fp_b, m_b, rows_b) = results
    np.testing.assert_array_equal(fp_a.hashes, fp_b.hashes)
    assert fp_a.digest == fp_b.digest and rows_a.digest == rows_b.digest
    for field in ("in_train", "in_train_with_label", "train_index"):
        np.testing.assert_array_equal(getattr(m_a, field), getattr(m_b, field))
    assert m_a.n_probes == m_b.n_probes > 2000
    assert m_a.in_train[:500].all()
    np.testing.assert_array_equal(m_a.rows.sample_codes, m_b.rows.sample_codes)
    for a, b in zip(m_a.stats, m_b.stats, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("columns", [3, 12])
def test_data_on_cell_boundaries_grows_the_buffers(columns: int) -> None:
    fp = fpm.compute(np.linspace(-1, 1, 1000)[:, None] * np.ones(columns))
    rows = 4000 if columns == 3 else 300
    test = (np.arange(rows)[:, None] - rows / 2 + 0.5) * np.asarray(fp.steps)  # all near
    numpy_pass, compiled_pass = _paths(fp, test)
    _assert_same(numpy_pass, compiled_pass)
    per_row = 2 ** min(columns, fpm.MAX_PROBED_COLUMNS) - 1  # the first 10 near columns
    assert compiled_pass[1].size == rows * per_row


def test_the_compiled_index_finds_what_pandas_finds() -> None:
    kernel = encode._load_kernel()
    rng = np.random.default_rng(11)
    distinct = np.unique(rng.integers(0, 2**56, 5000, dtype=np.uint64))
    keys = np.concatenate([distinct, rng.integers(0, 2**56, 5000, dtype=np.uint64)])
    keys = np.concatenate([keys, distinct[:100] + np.uint64(1 << 20)])  # same low bits
    rng.shuffle(keys)
    expected = pd.Index(distinct).get_indexer(keys)
    np.testing.assert_array_equal(kernel.find(*kernel.index_table(distinct), keys), expected)
    empty = kernel.index_table(np.zeros(0, dtype=np.uint64))
    assert (kernel.find(*empty, keys) == -1).all()


_cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 1e-3, 2.5e-5, 1e38]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(_cells, min_size=3, max_size=3), min_size=2, max_size=30),
    scale=st.sampled_from([1e-6, 1.0, 1e6]),
)
def test_compiled_pass_equals_the_numpy_pass_on_any_floats(rows, scale) -> None:
    x = np.array(rows, dtype=np.float32)
    finite = x[np.isfinite(x).all(axis=1)]
    with np.errstate(over="ignore"):  # float32 values past 1e32, scaled
        fp = fpm.compute(finite * scale if finite.size else np.ones((1, 3)))
    for features in (x, x.astype(np.float64) * scale):
        numpy_pass, compiled_pass = _paths(fp, features)
        _assert_same(numpy_pass, compiled_pass)


def test_without_numba_the_numpy_pass_does_the_work(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # ``import numba`` fails
    monkeypatch.delitem(sys.modules, "mlflow_sanity.core.fingerprint.kernel", raising=False)
    monkeypatch.setattr(encode, "KERNEL_MIN_VALUES", 0)
    monkeypatch.setattr(encode, "KERNEL_LOAD_VALUES", 0)
    encode._load_kernel.cache_clear()
    try:
        assert encode._load_kernel() is None
        x = np.random.default_rng(3).normal(size=(300, 4))
        m = fpm.compute(x).match(x)
        assert m.in_train.all() and (m.train_index == np.arange(300)).all()
    finally:
        encode._load_kernel.cache_clear()


def _in_a_fresh_process(shape: str, *lines: str) -> None:
    """Run ``lines`` in a new interpreter (whether numba is imported is per process), with
    ``fpm``, ``encode`` and a seeded float table ``x`` of ``shape`` at hand."""
    code = "\n".join(
        [
            "import sys, numpy as np",
            "from mlflow_sanity.core import fingerprint as fpm",
            "from mlflow_sanity.core.fingerprint import encode",
            f"x = np.random.default_rng(0).normal(size={shape})",
            *lines,
        ]
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_small_tables_never_import_numba() -> None:
    _in_a_fresh_process(
        "(5000, 20)",
        "fp = fpm.compute(x); fp.match(x); fpm.grid_rows(x)",
        "assert 'numba' not in sys.modules, 'numba imported'",
    )


def test_the_compiled_pass_is_loaded_only_for_a_table_that_wins_the_load_back() -> None:
    """Loading numba costs about 0.7 s once per process: a table below
    ``KERNEL_LOAD_VALUES`` (the usual case) is hashed by NumPy unless a larger one loaded
    the compiled pass already; then every table from ``KERNEL_MIN_VALUES`` uses it."""
    _in_a_fresh_process(
        "(40000, 10)",
        "x = x.astype('float32')",
        "assert x.size >= encode.KERNEL_MIN_VALUES",
        "fp = fpm.compute(x[:100]); fp.match(x)",
        "assert 'numba' not in sys.modules, 'loaded for a table below the load size'",
        "encode.KERNEL_LOAD_VALUES = x.size  # as if this table were large",
        "fp.match(x)",
        "assert 'numba' in sys.modules, 'not loaded for a large table'",
        "encode.KERNEL_LOAD_VALUES = 1 << 40",
        "assert encode.worth_loading(x.size, encode.KERNEL_MIN_VALUES), 'loaded, not reused'",
    )


def test_many_medium_tables_load_the_compiled_pass_once_numpy_did_as_much_work() -> None:
    """A long job of tables below ``KERNEL_LOAD_VALUES`` loads the compiled pass once
    NumPy has hashed ``KERNEL_LOAD_AFTER`` values in the process (counted in values, not
    seconds), and the hashes stay the same."""
    _in_a_fresh_process(
        "(40000, 10)",
        "x = x.astype('float32')",
        "encode.KERNEL_LOAD_AFTER = 3 * x.size",
        "fp = fpm.compute(x[:100])",
        "before = fp.match(x)",
        "assert 'numba' not in sys.modules, 'loaded before NumPy did as much work'",
        "for _ in range(3): fp.match(x)",
        "assert 'numba' in sys.modules, 'not loaded after many tables'",
        "after = fp.match(x)",
        "assert (before.in_train == after.in_train).all() and before.digest == after.digest",
    )
