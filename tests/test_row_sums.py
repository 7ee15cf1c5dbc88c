"""NumPy's sum along a row, to the bit: calls.row_sums (column by column) and metrics.numpy_row_sum (Python floats)."""

import numpy as np
import pytest

from clustersim.mechanisms.calls import row_sums
from clustersim.metrics import hhi, hhi_of_counts, numpy_row_sum


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 12, 15, 16, 17, 31, 64, 128, 129])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sums_equal_numpy(n: int, dtype: type) -> None:
    rng = np.random.default_rng(n)
    rows = (rng.random((3, 500, n)) ** 3).astype(dtype)
    want = rows.sum(axis=-1)
    got = row_sums(np.ascontiguousarray(np.moveaxis(rows, -1, 0)))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 12, 15, 16, 17, 31, 64, 128, 129])
def test_numpy_row_sum_equals_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(50):
        values = (rng.random(n) ** 3 * 10.0 ** rng.integers(-3, 4, n)).tolist()
        assert numpy_row_sum(values) == np.array(values, dtype=np.float64).sum()


@pytest.mark.parametrize("n", [0, 1, 7, 12, 20])
def test_hhi_of_counts_equals_hhi(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(50):
        counts = rng.integers(0, 2000, n).tolist()
        np.testing.assert_equal(hhi_of_counts(counts), hhi(np.array(counts, dtype=np.float64)))
