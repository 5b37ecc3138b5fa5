"""A memory-mapped file region that dask reads slice by slice.

``dask.array.from_array`` copies plain NumPy arrays (memory maps included)
when the graph is built, which would read a whole 20 GB recording at open.
:class:`MappedArray` is an array-like (``shape``, ``dtype``, ``ndim``,
``__getitem__``) that maps the file only when a slice is read, and pickles as
its path, so dask workers on other processes or machines reopen the file
themselves instead of receiving its data.
"""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np

__all__ = ["MappedArray", "lazy_from_file"]


class MappedArray:
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
        self._map = None

    def __getitem__(self, index) -> np.ndarray:
        if self._map is None:
            self._map = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)
        return np.array(self._map[index])

    def __getstate__(self) -> dict:
        return {"path": self.path, "dtype": self.dtype, "shape": self.shape, "offset": self.offset}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)


def lazy_from_file(path: str | os.PathLike, dtype, shape: tuple, *, offset: int = 0, time_chunk: int) -> da.Array:
    """A dask array over a file region, chunked along the first axis only.

    The graph's name is made from the file's path, size and modification time,
    so nothing is read to build it.
    """
    mapped = MappedArray(path, dtype, shape, offset)
    stat = mapped.path.stat()
    name = f"file-{mapped.path.resolve()}-{offset}-{stat.st_size}-{stat.st_mtime_ns}"
    chunks = (time_chunk,) + tuple(shape[1:])
    return da.from_array(mapped, chunks=chunks, name=name, meta=np.empty((0,) * len(shape), mapped.dtype))
