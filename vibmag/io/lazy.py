"""A file region that dask reads slice by slice.

``dask.array.from_array`` copies plain NumPy arrays (memory maps included)
when the graph is built, which would read a whole 20 GB recording at open.
:class:`FileArray` is an array-like (``shape``, ``dtype``, ``ndim``,
``__getitem__``) that reads only the rows (first-axis items) a slice needs,
with plain file reads rather than a memory map, so streaming a recording does
not leave it mapped into the process; it pickles as its path, so dask workers
on other processes or machines reopen the file themselves instead of receiving
its data.
"""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np

__all__ = ["FileArray", "lazy_from_file"]


class FileArray:
    """A read-only view of ``shape`` items of ``dtype`` at byte ``offset`` of a file.

    Parameters
    ----------
    path : path-like
        The file.
    dtype : numpy dtype
        Item type (with byte order, e.g. ``"<u2"``).
    shape : tuple of int
        Array shape; the file must hold at least ``offset + prod(shape) * itemsize`` bytes.
    offset : int
        Bytes to skip at the start of the file.
    """

    def __init__(self, path: str | os.PathLike, dtype, shape: tuple, offset: int = 0):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.offset = int(offset)
        self.ndim = len(self.shape)

    @property
    def row_bytes(self) -> int:
        """Bytes of one item along the first axis."""
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __getitem__(self, index) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        rows = np.arange(self.shape[0])[index[0]]
        if rows.size == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)[(slice(None),) + index[1:]]
        first, last = int(rows.min()), int(rows.max())
        block = self._read_rows(first, last + 1)
        return block[(rows - first,) + index[1:]]

    def _read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` read from the file, shape (stop - start,) + shape[1:]."""
        out = np.empty((stop - start,) + self.shape[1:], self.dtype)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            if f.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise OSError(f"{self.path}: file ended before row {stop} (is it truncated?)")
        return out

    def __getstate__(self) -> dict:
        return {"path": self.path, "dtype": self.dtype, "shape": self.shape, "offset": self.offset}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)


def lazy_from_file(path: str | os.PathLike, dtype, shape: tuple, *, offset: int = 0, time_chunk: int) -> da.Array:
    """A dask array over a file region, chunked along the first axis only.

    The graph's name is made from the file's path, size and modification time,
    so nothing is read to build it.
    """
    mapped = FileArray(path, dtype, shape, offset)
    stat = mapped.path.stat()
    name = f"file-{mapped.path.resolve()}-{offset}-{stat.st_size}-{stat.st_mtime_ns}"
    chunks = (time_chunk,) + tuple(shape[1:])
    return da.from_array(mapped, chunks=chunks, name=name, meta=np.empty((0,) * len(shape), mapped.dtype))
