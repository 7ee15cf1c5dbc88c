"""calls.row_sums: NumPy's sum along a row, column by column, to the bit."""

import numpy as np
import pytest

from clustersim.mechanisms.calls import row_sums


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 12, 15, 16, 17, 31, 64, 128, 129])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sums_equal_numpy(n: int, dtype: type) -> None:
    rng = np.random.default_rng(n)
    rows = (rng.random((3, 500, n)) ** 3).astype(dtype)
    want = rows.sum(axis=-1)
    got = row_sums(np.ascontiguousarray(np.moveaxis(rows, -1, 0)))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
