"""Data that does not fit in one process: a dask DataFrame or a Parquet dataset, seen as a
list of partitions that dask's workers read one at a time.

:func:`open_source` accepts a dask DataFrame, a Parquet path (a file or a directory of
files), or a ``pyarrow.dataset.Dataset``. Parquet inputs are checked from their metadata
alone before anything is read: the path exists, every file has every column the model
needs, and each column has one type across files (the error names the file and column).
A dask DataFrame's partitions are checked the same way on the first (light) pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError


def is_chunked(data: Any) -> bool:
    """Whether ``data`` is a dask DataFrame, a Parquet path or a pyarrow dataset (the inputs
    the front doors fit out of core)."""
    if isinstance(data, (str, os.PathLike)):
        return True
    mod = type(data).__module__
    return mod.startswith("dask") and hasattr(data, "to_delayed") or \
        mod.startswith("pyarrow._dataset") or mod.startswith("pyarrow.dataset")


@dataclass(frozen=True)
class ParquetPiece:
    """One unit of work: a file and one of its row groups (None: the whole file)."""

    path: str
    row_group: int | None


def _read_piece(piece: ParquetPiece, columns: Sequence[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq
    f = pq.ParquetFile(piece.path)
    tab = (f.read(columns=list(columns)) if piece.row_group is None
           else f.read_row_group(piece.row_group, columns=list(columns)))
    return tab.to_pandas()


@dataclass
class ChunkedSource:
    """Partitions of a data set, each loaded on demand by a worker.

    ``pieces`` describe the partitions (Parquet row groups, or a dask DataFrame's delayed
    partitions): :meth:`load` reads partition ``i``'s ``columns`` here, :meth:`delayed`
    gives the same as a dask task, so that a map over partitions runs on dask's workers.
    """

    kind: str  # "parquet" or "dask"
    pieces: list[Any]
    names: list[str]  # the data's columns (first file's / the dask meta's)
    label: Callable[[int], str]
    schemas: dict = field(default_factory=dict)  # Parquet: file -> arrow schema

    @property
    def n_partitions(self) -> int:
        return len(self.pieces)

    def load(self, i: int, columns: Sequence[str]) -> pd.DataFrame:
        if self.kind == "parquet":
            return _read_piece(self.pieces[i], columns)
        return self.pieces[i].compute()[list(columns)]

    def delayed(self, i: int, columns: Sequence[str]) -> Any:
        """Partition ``i`` for a dask task: a dask delayed DataFrame, or for Parquet a
        :class:`PieceLoader` the task calls only when its rows are not cached."""
        if self.kind == "parquet":
            return PieceLoader(self.pieces[i], tuple(columns))
        return self.pieces[i]


class PieceLoader:
    """Reads one Parquet piece's columns when asked (``load()``); a plain object, so dask
    passes it to the task as it is."""

    __slots__ = ("piece", "columns")

    def __init__(self, piece: ParquetPiece, columns: tuple):
        self.piece, self.columns = piece, columns

    def load(self) -> pd.DataFrame:
        return _read_piece(self.piece, self.columns)


def open_source(data: Any) -> ChunkedSource:
    """Open ``data`` (reading Parquet metadata only).

    Raises
    ------
    DataError
        A path that does not exist or holds no Parquet files, a file that is not Parquet.
    """
    if isinstance(data, (str, os.PathLike)):
        return _open_parquet_path(os.fspath(data))
    mod = type(data).__module__
    if mod.startswith("pyarrow"):
        files = list(getattr(data, "files", []) or [])
        if not files:
            raise DataError("the pyarrow dataset lists no files: give a FileSystemDataset "
                            "of Parquet files (pyarrow.dataset.dataset(path))")
        return _open_parquet_files(files)
    if hasattr(data, "to_delayed"):
        names = [str(c) for c in data.columns]
        parts = list(data.to_delayed())
        return ChunkedSource("dask", parts, names, lambda i: f"partition {i}")
    raise DataError(f"data of type {type(data).__name__} cannot be fitted out of core: give a "
                    "pandas or dask DataFrame, a Parquet path or a pyarrow dataset")


def _open_parquet_path(path: str) -> ChunkedSource:
    if not os.path.exists(path):
        raise DataError(f"the Parquet path {path!r} does not exist")
    if os.path.isdir(path):
        files = sorted(os.path.join(root, f) for root, _, fs in os.walk(path) for f in fs
                       if f.endswith((".parquet", ".parq", ".pq")))
        if not files:
            raise DataError(f"the directory {path!r} holds no Parquet files (*.parquet)")
    else:
        files = [path]
    return _open_parquet_files(files)


def _open_parquet_files(files: list[str]) -> ChunkedSource:
    """Every file's schema (metadata only) and its row groups as pieces."""
    import pyarrow.parquet as pq
    pieces: list[ParquetPiece] = []
    schemas: dict[str, Any] = {}
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
            raise DataError(f"{f!r} is not a readable Parquet file ({exc})") from exc
        schemas[f] = pf.schema_arrow
        n_groups = pf.metadata.num_row_groups
        if n_groups > 1:
            pieces.extend(ParquetPiece(f, g) for g in range(n_groups))
        else:
            pieces.append(ParquetPiece(f, None))
    first = schemas[files[0]]
    names = [n for n in first.names if not n.startswith("__index_level_")]

    def label(i: int) -> str:
        p = pieces[i]
        return p.path if p.row_group is None else f"{p.path} (row group {p.row_group})"

    src = ChunkedSource("parquet", pieces, names, label)
    src.schemas = schemas
    return src


def check_columns(source: ChunkedSource, columns: Sequence[str]) -> None:
    """Every column the model uses is in every file, with one type (Parquet: from the
    files' metadata; a dask DataFrame: its declared columns, partitions on the first pass).

    Raises
    ------
    DataError
        Naming the file (or data) and the column.
    """
    if source.kind == "dask":
        lacking = [c for c in columns if c not in source.names]
        if lacking:
            raise DataError(f"the dask DataFrame lacks column(s) {lacking} that the model "
                            f"uses (it has {source.names[:20]})")
        return
    types: dict[str, tuple[str, str]] = {}
    for f, schema in source.schemas.items():
        for c in columns:
            idx = schema.get_field_index(c)
            if idx < 0:
                raise DataError(f"column {c!r} that the model uses is missing from the "
                                f"Parquet file {f!r} (it has {schema.names[:20]})")
            t = str(schema.field(idx).type)
            if c in types and types[c][0] != t:
                raise DataError(f"column {c!r} has type {t} in {f!r} but {types[c][0]} in "
                                f"{types[c][1]!r}: give it one type in every file")
            types.setdefault(c, (t, f))


def check_partition(df: pd.DataFrame, columns: Sequence[str], dtypes: dict[str, Any],
                    where: str) -> None:
    """A partition must hold every column, each with the type the first partition had."""
    lacking = [c for c in columns if c not in df.columns]
    if lacking:
        raise DataError(f"{where} lacks column(s) {lacking} that the model uses")
    for c in columns:
        if c in dtypes and not _same_kind(df[c].dtype, dtypes[c]):
            raise DataError(f"column {c!r} has dtype {df[c].dtype} in {where} but "
                            f"{dtypes[c]} in the first partition: give it one type")


def _same_kind(a: Any, b: Any) -> bool:
    """Same dtype, both numeric of one kind (int64 vs int32), or both text."""
    if a == b:
        return True
    num = pd.api.types.is_numeric_dtype
    if num(a) and num(b):
        return np.dtype(a).kind == np.dtype(b).kind
    return not num(a) and not num(b)  # text of any storage (object, string)
