"""Row fingerprints: exact and near duplicates, mixed types, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.fingerprint import Fingerprint, compute


def _frame(rng: np.random.Generator, n: int, d: int = 5) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(n, d)) * 3 + 1, columns=[f"x{i}" for i in range(d)])


def test_exact_duplicates_are_found_with_their_training_row() -> None:
    rng = np.random.default_rng(0)
    train, test = _frame(rng, 2000), _frame(rng, 500)
    copied = np.array([5, 17, 1999])
    test.iloc[[0, 10, 20]] = train.iloc[copied].to_numpy()
    m = compute(train).match(test)
    assert np.flatnonzero(m.in_train).tolist() == [0, 10, 20]
    assert m.train_index[[0, 10, 20]].tolist() == copied.tolist()
    assert (m.train_index[~m.in_train] == -1).all()


def test_independent_continuous_rows_never_match() -> None:
    rng = np.random.default_rng(1)
    train, test = _frame(rng, 5000, 3), _frame(rng, 2000, 3)
    assert not compute(train).match(test).in_train.any()


def test_repeated_categories_with_continuous_columns_do_not_match() -> None:
    rng = np.random.default_rng(2)

    def make(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "city": rng.choice(["a", "b", "c"], n),
                "flag": rng.integers(0, 2, n),
                "level": pd.Categorical(rng.choice(["lo", "hi"], n)),
                "income": rng.lognormal(10, 1, n),
                "age": rng.normal(40, 10, n),
            }
        )

    assert not compute(make(4000)).match(make(2000)).in_train.any()


def test_near_duplicates_within_tolerance_match_and_beyond_do_not() -> None:
    rng = np.random.default_rng(3)
    train = _frame(rng, 3000, 8)
    fp = compute(train)
    steps = fp.steps
    assert (steps > 0).all()
    base = train.iloc[:400].to_numpy()
    signs = rng.choice([-1.0, 1.0], size=base.shape)
    within = base + signs * steps * fpm.PROBE_MARGIN * 0.9  # every column moved
    beyond = base.copy()
    beyond[:, 3] += steps[3] * 1.1 * (1 + fpm.PROBE_MARGIN)  # one column moved too far
    assert fp.match(pd.DataFrame(within, columns=train.columns)).in_train.all()
    assert not fp.match(pd.DataFrame(beyond, columns=train.columns)).in_train.any()
    exact_only = fp.match(pd.DataFrame(within, columns=train.columns), near=False)
    assert exact_only.share < 1.0  # the probes are what makes boundary cases match


def test_float_noise_and_float32_round_trips_still_match() -> None:
    rng = np.random.default_rng(4)
    train = _frame(rng, 2000, 20)
    fp = compute(train)
    noisy = train.to_numpy() * (1 + 1e-12) + 1e-13
    f32 = train.to_numpy().astype(np.float32).astype(np.float64)
    assert fp.match(noisy).in_train.all()
    assert fp.match(f32).in_train.all()


def test_float32_arrays_are_read_in_place_and_match_float64_frames() -> None:
    rng = np.random.default_rng(11)
    x64 = rng.normal(size=(3000, 6)) * 100
    x32 = x64.astype(np.float32)
    fp = compute(x32, rng.integers(0, 2, 3000))  # what Keras fit usually sees
    assert fp.kinds == ["continuous"] * 6
    assert fp.match(pd.DataFrame(x64, columns=list("abcdef"))).in_train.all()
    np.testing.assert_allclose(fp.mean, x32.astype(np.float64).mean(axis=0))
    ints = compute(rng.integers(0, 5, size=(100, 3)).astype(np.int8))
    assert ints.kinds == ["exact"] * 3


def test_mixed_types_hash_and_nan_equals_nan() -> None:
    train = pd.DataFrame(
        {
            "s": ["a", None, "c", "a"],
            "cat": pd.Categorical(["x", "y", None, "x"]),
            "f": [1.5, np.nan, 2.25, np.inf],
            "i": [1, 2, 3, 4],
            "b": [True, False, True, False],
            "t": pd.to_datetime(
                ["2024-01-01", None, "2024-03-01 12:00", "2024-01-01"], format="ISO8601"
            ),
            "td": pd.to_timedelta([1, 2, None, 4], unit="s"),
            "mixed": [1, "1x", None, 2.5],
        }
    )
    fp = compute(train)
    assert fp.kinds == [
        "text",
        "text",
        "continuous",
        "exact",
        "exact",
        "datetime",
        "timedelta",
        "text",
    ]
    again = train.copy()
    again["f"] = [1.5, float("nan"), 2.25, np.inf]
    again["s"] = ["a", np.nan, "c", "a"]  # None and NaN are both missing
    m = fp.match(again)
    assert m.in_train.all()
    assert m.digest == fp.digest
    assert fp.n_missing.tolist() == [1, 1, 1, 0, 0, 1, 1, 1]
    changed = again.copy()
    changed.loc[1, "t"] = pd.Timestamp("2024-01-02")
    assert fp.match(changed).in_train.tolist() == [True, False, True, True]


def test_negative_zero_equals_zero_and_ints_equal_floats() -> None:
    fp = compute(pd.DataFrame({"a": [0.0, 1.5], "n": [1, 2]}))
    m = fp.match(pd.DataFrame({"a": [-0.0, 1.5], "n": [1.0, 2.0]}))
    assert m.in_train.all()


def test_labels_are_matched_separately_from_features() -> None:
    rng = np.random.default_rng(5)
    train, y = _frame(rng, 100), rng.integers(0, 3, 100)
    fp = compute(train, y)
    assert fp.has_labels
    flipped = (y + 1) % 3
    m = fp.match(train, flipped)
    assert m.in_train.all()
    assert m.in_train_with_label is not None and not m.in_train_with_label.any()
    onehot = np.eye(3)[y].astype(np.float32)  # Keras-style targets equal class indices
    assert fp.match(train, onehot).in_train_with_label.all()
    assert fp.match(train).in_train_with_label is None
    assert compute(train, y.astype(str)).match(train, y).in_train_with_label.all()


def test_columns_align_by_name_or_position() -> None:
    rng = np.random.default_rng(6)
    train = _frame(rng, 50)
    fp = compute(train)
    assert fp.match(train[train.columns[::-1]].assign(extra=1)).in_train.all()
    assert fp.match(train.to_numpy()).in_train.all()
    arr_fp = compute(train.to_numpy())
    assert arr_fp.positional and arr_fp.match(train).in_train.all()
    with pytest.raises(ValueError, match="lacks fingerprinted columns"):
        fp.match(train.drop(columns="x2"))


def test_statistics_and_kinds() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(5, 2, size=(40000, 2))  # spans several chunks
    x[3, 0] = np.nan
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "k": np.round(x[:, 1])})
    fp = compute(frame)
    assert fp.kinds == ["continuous", "continuous", "exact"]
    np.testing.assert_allclose(fp.mean[:2], np.nanmean(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(fp.std[:2], np.nanstd(x, axis=0), rtol=1e-10)
    assert fp.min[1] == x[:, 1].min() and fp.max[1] == x[:, 1].max()
    assert fp.steps[2] == 0 and fp.n_missing.tolist() == [1, 0, 0]
    assert fp.column_stats()["a"]["kind"] == "continuous"
    assert fp.collision[2] > 0.05 > fp.collision[0]


def test_round_trip_without_pickle() -> None:
    rng = np.random.default_rng(8)
    frame = _frame(rng, 300).assign(s=rng.choice(["u", "v"], 300))
    fp = compute(frame, rng.integers(0, 2, 300))
    files = fp.to_files()
    assert set(files) == {"fingerprint_train.npy", "fingerprint_train.json"}
    meta = json.loads(files["fingerprint_train.json"])
    assert meta["n_rows"] == 300 and meta["digest"] == fp.digest
    back = Fingerprint.from_files(files)
    assert back.digest == fp.digest and back.kinds == fp.kinds and back.columns == fp.columns
    np.testing.assert_array_equal(back.hashes, fp.hashes)
    np.testing.assert_array_equal(back.steps, fp.steps)
    assert back.match(frame).in_train.all()
    both = {**files, **fp.to_files("validation")}
    assert Fingerprint.from_files(both, role="validation").n_rows == 300
    with pytest.raises(ValueError, match="expected one"):
        Fingerprint.from_files(both)
    bad = dict(files)
    bad["fingerprint_train.npy"] = files["fingerprint_train.npy"][:-8]
    with pytest.raises(ValueError):
        Fingerprint.from_files(bad)


def test_digest_is_order_independent_and_content_sensitive() -> None:
    rng = np.random.default_rng(9)
    frame = _frame(rng, 200)
    fp = compute(frame)
    assert fp.match(frame.sample(frac=1, random_state=1)).digest == fp.digest
    assert fp.match(frame.iloc[:-1]).digest != fp.digest
    assert compute(frame.sample(frac=1, random_state=2)).digest == fp.digest


def test_small_chunks_give_the_same_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(10)
    frame = _frame(rng, 1000).assign(s=rng.choice(["u", "v", "w"], 1000))
    whole = compute(frame)
    monkeypatch.setattr(fpm.encode, "CHUNK_ROWS", 97)
    monkeypatch.setattr(fpm.encode, "MATCH_CHUNK_ROWS", 97)  # the hash pass
    monkeypatch.setattr(fpm.encode, "COLLISION_SAMPLE", 300)
    chunked = compute(frame)
    np.testing.assert_array_equal(whole.hashes, chunked.hashes)
    m = chunked.match(frame)
    assert m.in_train.all() and (m.train_index == np.arange(1000)).all()


def test_bad_inputs_are_explained() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        compute(np.ones((3, 2)), tolerance=0)
    with pytest.raises(ValueError, match="labels"):
        compute(np.ones((3, 2)), [1, 2])
    with pytest.raises(ValueError, match="no feature columns"):
        compute(pd.DataFrame(index=range(3)))


_cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(2**40), 2**40),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_cells, st.floats(-1e6, 1e6), st.text(max_size=2)), min_size=1, max_size=30)
)
def test_any_frame_matches_itself(rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["mixed", "num", "txt"])
    fp = compute(frame)
    m = fp.match(frame)
    assert m.in_train.all()
    assert m.digest == fp.digest
    matched = fp.hashes[m.train_index] >> np.uint64(8)
    np.testing.assert_array_equal(matched, fp.hashes >> np.uint64(8))


def test_strings_as_bytes_equal_strings_and_numbers_beside_them_stay_numeric() -> None:
    """Keras' string inputs arrive as bytes from tf.data (``b"red"``) and as ``str`` from
    pandas or NumPy: the same rows either way. Numeric columns next to them keep their
    grid (near duplicates), the string column is matched exactly."""
    rng = np.random.default_rng(4)
    colors = rng.choice(np.array(["red", "grün", "blue"]), 300)
    size = rng.normal(size=(300, 1)) * 5
    as_bytes = {"color": np.char.encode(colors, "utf-8").astype(object)[:, None], "size": size}
    fp = compute(as_bytes)
    assert fp.kinds == ["text", "continuous"]
    assert np.isnan(fp.mean[0]) and np.isfinite(fp.mean[1])  # no statistics of strings
    as_text = {"color": colors[:, None], "size": size * (1 + 1e-9)}
    m = fp.match(as_text)
    assert m.in_train.all() and m.digest == fp.digest
    other = {"color": np.where(colors == "red", "Red", colors)[:, None], "size": size}
    assert fp.match(other).in_train.tolist() == (colors != "red").tolist()
    fixed = {"color": np.char.encode(colors, "utf-8")[:, None], "size": size}  # dtype S
    assert fp.match(fixed).in_train.all()


def test_a_lookup_computes_the_rows_statistics_on_its_way() -> None:
    """A plain array looked up in a fingerprint gets its column statistics from the same
    pass (no second read of the rows), bit for bit those of a pass of their own; the row
    hashes are pandas' own routine (``hash_array``) summed over the columns."""
    rng = np.random.default_rng(30)
    train = rng.normal(size=(3000, 4)).astype("float32")
    test = rng.normal(loc=2.0, size=(20_000, 4)).astype("float32")
    test[5, 1] = np.nan
    fp = compute(train)
    m = fp.match(test)
    assert m.stats is not None
    rows = fpm.rows_fingerprint(fp, test, m)
    own = compute(test, rates=False)
    for name in ("mean", "std", "min", "max", "n_missing"):
        assert np.array_equal(getattr(rows, name), getattr(own, name), equal_nan=True), name
    codes = np.arange(1000, dtype=np.uint64)
    ours = fpm.hashing._mix(codes.copy())
    np.testing.assert_array_equal(ours, pd.util.hash_array(codes, categorize=False))
