"""Writing files safely: a new file appears complete or not at all.

The ground floor of vibmag: it imports only the standard library, so every
layer that writes files (``vibmag.io``, ``vibmag.batch``...) can use it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` only when the block succeeds.

    Write the new file to the yielded path inside the ``with`` block. When the
    block ends without an exception, the temporary file is renamed over
    ``path`` with :func:`os.replace` (atomic on POSIX and Windows within one
    file system), so a reader sees either the old file or the complete new
    one. When the block raises (``KeyboardInterrupt`` included), or the rename
    fails, the temporary file is deleted and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write or replace. Its folder must exist; the file need not.
    suffix : str
        End of the temporary file's name, which is
        ``.<name>.<32 hex digits><suffix>`` in the same folder as ``path``
        (hidden on POSIX, unique per call). Pass e.g.
        ``".partial" + Path(path).suffix`` for a writer that picks the format
        from the file's extension.

    Yields
    ------
    pathlib.Path
        The temporary path (nothing exists there yet).

    Raises
    ------
    OSError
        If the rename fails (e.g. the block removed the temporary file, or
        ``path`` is a folder); the temporary file is deleted first.

    Notes
    -----
    The rename is not followed by an ``fsync`` of the file or folder: flush
    the file yourself inside the block where durability through a power cut
    matters. The temporary file is in the same folder so that the rename
    never crosses a file system.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_path(path) as tmp:
    ...     _ = tmp.write_text("complete")
    >>> path.read_text()
    'complete'
    >>> try:
    ...     with atomic_path(path) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise RuntimeError("crash mid-write")
    ... except RuntimeError:
    ...     pass
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('complete', ['notes.txt'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
