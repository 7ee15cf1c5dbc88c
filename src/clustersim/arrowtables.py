"""A run's tables built as Arrow tables from their columns, and made pandas DataFrames only when asked.

A run's tables go to Parquet files (the run folder, a sweep's dataset), which pyarrow
writes from Arrow tables: building each table as a pandas DataFrame and converting it
(``pa.Table.from_pandas``) cost a sweep's job about 15 ms a run, for DataFrames nobody
read. The tables made here are those ``pa.Table.from_pandas(df, preserve_index=False)``
gives for the DataFrames the pandas builders make (:mod:`clustersim.metrics`,
:mod:`clustersim.microdata`): the same columns, types and ``pandas`` schema metadata, so the
files are the same bytes and read back (and convert, :class:`RunTables`) to the same
DataFrames. A shape they do not cover (a table without rows, a value of an unexpected
type) is left to the pandas builder (:func:`plain` returns None).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import numpy as np
import pyarrow as pa

# the Python types pandas infers each kind of column from (NumPy's scalars of the same dtype too)
_KINDS: dict[str, tuple[type, ...]] = {
    "int64": (int, np.int64),
    "float64": (float, np.float64),
    "bool": (bool, np.bool_),
}


@functools.cache
def text_kind() -> tuple[pa.DataType, str, str]:
    """How ``from_pandas`` stores pandas' column of Python strings: (Arrow type, pandas_type, numpy_type).

    pandas 3 infers its ``str`` dtype (``large_string``, 'object', 'str'); pandas 2 keeps
    ``object`` (``string``, 'unicode', 'object'). Asked of pandas once per process.
    """
    import pandas as pd

    table = pa.Table.from_pandas(pd.DataFrame({"s": np.array(["x"], dtype=object)}), preserve_index=False)
    column = json.loads(table.schema.metadata[b"pandas"])["columns"][0]
    return table.schema.field(0).type, column["pandas_type"], column["numpy_type"]


def text(values: Any) -> pa.Array:
    """A text column as ``from_pandas`` makes it of pandas' column of the same strings."""
    return pa.array(values, type=text_kind()[0])


def plain(values: list[Any], kind: str) -> np.ndarray | None:
    """``values`` (Python or NumPy scalars) as the column pandas infers from them: ``kind`` (int64, float64, bool).

    None unless every value is of that kind (pandas would infer another dtype, or object):
    the caller then builds the table the pandas way.
    """
    types = _KINDS[kind]
    if not all(type(v) in types for v in values):  # bool is not int here: a flag among counts is object
        return None
    return np.array(values, dtype=kind)


def categorical(codes: np.ndarray, categories: list[str]) -> pa.DictionaryArray:
    """A column of ``categories`` by their ``codes`` as ``from_pandas`` makes pandas' categorical of them."""
    return pa.DictionaryArray.from_arrays(pa.array(codes), text(categories))


def frame_table(columns: dict[str, np.ndarray | pa.Array]) -> pa.Table:
    """A table of ``columns`` with the ``pandas`` metadata ``from_pandas`` writes for a DataFrame of them.

    A NumPy column is converted as ``from_pandas`` converts a DataFrame's: a NaN of a
    float column becomes null (pandas' missing value; it reads back as NaN). The metadata
    is that of a DataFrame without index (``preserve_index=False``) and without ``attrs``:
    each column's ``pandas_type`` (pyarrow's logical type of its Arrow type) and
    ``numpy_type`` (its pandas dtype: ``text_kind`` for text, ``object`` for a list
    column, the codes' dtype for a categorical (:func:`categorical`, unordered), else the
    NumPy dtype of its Arrow type).
    """
    import pandas as pd
    from pyarrow.pandas_compat import get_logical_type

    table = pa.table(
        {name: pa.array(c, from_pandas=True) if isinstance(c, np.ndarray) else c for name, c in columns.items()}
    )
    text_type, text_pandas, text_numpy = text_kind()
    described = []
    for field in table.schema:
        extra = None
        if field.type == text_type:
            pandas_type, numpy_type = text_pandas, text_numpy
        elif pa.types.is_list(field.type):
            pandas_type, numpy_type = get_logical_type(field.type), "object"
        elif pa.types.is_dictionary(field.type):
            if field.type.ordered or field.type.value_type != text_type:
                raise TypeError(f"{field.name}: {field.type} is not covered")
            pandas_type, numpy_type = "categorical", np.dtype(field.type.index_type.to_pandas_dtype()).name
            extra = {"num_categories": len(columns[field.name].dictionary), "ordered": False}
        elif pa.types.is_nested(field.type):
            raise TypeError(f"{field.name}: {field.type} is not covered")
        else:
            pandas_type, numpy_type = get_logical_type(field.type), np.dtype(field.type.to_pandas_dtype()).name
        described.append(
            {
                "name": field.name,
                "field_name": field.name,
                "pandas_type": pandas_type,
                "numpy_type": numpy_type,
                "metadata": extra,
            }
        )
    meta = {
        "index_columns": [],
        "column_indexes": [],
        "columns": described,
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": pd.__version__,
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode("utf8")})


class RunTables(MutableMapping):
    """A run's tables by name: kept as Arrow tables (:attr:`arrow`), each made a DataFrame when first asked for.

    What :func:`clustersim.runner.simulate` returns: a DataFrame is ``table.to_pandas()``,
    the same DataFrame the pandas builder makes (the ``pandas`` metadata restores its
    dtypes) and ``pd.read_parquet`` reads back from the run's file. A sweep's job writes
    the Arrow tables and never asks for a DataFrame.
    """

    def __init__(self, arrow: dict[str, pa.Table], frames: dict[str, Any] | None = None) -> None:
        """The tables ``arrow``, in their order; ``frames``: DataFrames already made (of some of them)."""
        self.arrow = dict(arrow)
        self._frames = dict(frames or {})
        self._names = list(self.arrow) + [n for n in self._frames if n not in self.arrow]

    def __getitem__(self, name: str) -> Any:
        frame = self._frames.get(name)
        if frame is None:
            frame = self._frames[name] = self.arrow[name].to_pandas()
        return frame

    def __setitem__(self, name: str, frame: Any) -> None:
        self._frames[name] = frame
        self.arrow.pop(name, None)  # no longer the table as made
        if name not in self._names:
            self._names.append(name)

    def __delitem__(self, name: str) -> None:
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._frames.pop(name, None)
        self.arrow.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names  # without making the DataFrame (Mapping's asks for it)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"RunTables({self._names})"


def either(fast: Callable[[], pa.Table | None], slow: Callable[[], Any], frames: dict[str, Any], name: str) -> pa.Table:
    """The table ``fast()`` builds, or (when it returns None) ``slow()``'s DataFrame converted, kept in ``frames``."""
    table = fast()
    if table is None:
        frame = frames[name] = slow()
        table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
    return table
