"""pandas frames and Arrow arrays and tables: pickled with their data as
out-of-band buffers, which come back as views of the store's memory."""

import gc

import numpy as np
import pytest

from conftest import pinned


def object_range(store, ref):
    with store.get_buffer(ref) as buf:
        a = np.frombuffer(buf.data, np.uint8)
        lo = a.__array_interface__["data"][0]
        return lo, lo + a.nbytes


def test_pandas_frame_round_trip_zero_copy(store):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "x": np.arange(10_000, dtype=np.float64),
            "n": np.arange(10_000, dtype=np.int32),
            "s": [f"row {i}" for i in range(10_000)],
            "t": pd.date_range("2024-01-01", periods=10_000, freq="s"),
        }
    )
    ref = store.put(df)
    got = store.get(ref)
    pd.testing.assert_frame_equal(got, df)
    lo, hi = object_range(store, ref)
    for col in ("x", "n"):
        arr = got[col].to_numpy()
        assert lo <= arr.__array_interface__["data"][0] < hi, col  # no copy
    assert pinned(store) == 1
    del got, arr
    gc.collect()
    assert pinned(store) == 0


def test_pandas_series_and_index(store):
    pd = pytest.importorskip("pandas")
    s = pd.Series(np.linspace(0, 1, 1000), index=pd.RangeIndex(1000), name="v")
    pd.testing.assert_series_equal(store.get(store.put(s)), s)
    cat = pd.Series(pd.Categorical(["a", "b", "a"] * 100))
    pd.testing.assert_series_equal(store.get(store.put(cat)), cat)


def test_arrow_array_and_table_zero_copy(store):
    pa = pytest.importorskip("pyarrow")
    arr = pa.array(np.arange(100_000, dtype=np.int64))
    ref = store.put(arr)
    got = store.get(ref)
    assert got.equals(arr)
    lo, hi = object_range(store, ref)
    assert lo <= got.buffers()[1].address < hi  # the values buffer is the store's
    table = pa.table({"a": np.arange(50_000, dtype=np.float32), "s": [str(i) for i in range(50_000)]})
    tref = store.put(table)
    tgot = store.get(tref)
    assert tgot.equals(table)
    lo, hi = object_range(store, tref)
    for chunk in tgot.column("a").chunks:
        assert lo <= chunk.buffers()[1].address < hi
        assert chunk.buffers()[1].address % 64 == 0  # aligned as Arrow likes
    del got, tgot, chunk
    gc.collect()
    assert pinned(store) == 0


def test_arrow_record_batch(store):
    pa = pytest.importorskip("pyarrow")
    batch = pa.record_batch({"k": pa.array([1, 2, 3]), "v": pa.array(["x", None, "z"])})
    assert store.get(store.put(batch)).equals(batch)
