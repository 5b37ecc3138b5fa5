"""Checking an output path before any work is done (docs/refusals.md, "Outputs").

Every front end and every public function that writes a file calls
:func:`check_output` first, so a bad output is refused before the first frame
is read, and a refusal leaves nothing behind. An output must

* have a suffix the writer supports;
* sit in an existing, writable folder (and not be a folder itself);
* not be one of the inputs (a recording, or the header or data file of one);
* be new, or (with ``overwrite``) a file of the kind its suffix names, the
  kind vibmag writes there: a PNG, GIF or MP4 by its signature, a text file,
  or an HDF5 result written by vibmag (not a recording saved with
  :func:`vibmag.save`). A user's recording, or a file of another kind behind a
  misleading name, is never replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import h5py

from ..errors import OutputError, OverwriteError
from .hdf5 import is_vibmag_file

__all__ = ["check_output", "check_output_folder", "refuse_existing", "input_files", "is_kind", "is_recording_file"]

_KINDS = {
    ".png": "PNG image",
    ".gif": "GIF",
    ".mp4": "MP4 video",
    ".h5": "vibmag HDF5",
    ".hdf5": "vibmag HDF5",
    ".csv": "text (CSV)",
    ".txt": "text",
    ".log": "text",
}


def input_files(source) -> list[Path]:
    """The files a recording was read from: its ``source`` (a Dataset's attr, or a path), and for
    a Photron recording the header and the ``.mraw`` beside it."""
    if source is None:
        return []
    if hasattr(source, "attrs"):
        source = source.attrs.get("source")
    if not isinstance(source, (str, os.PathLike)) or not os.path.exists(source):
        return []
    path = Path(source)
    files = [path]
    if path.suffix.lower() in (".cih", ".cihx", ".mraw"):
        files += [p for p in (path.with_suffix(s) for s in (".cih", ".cihx", ".mraw")) if p.exists()]
    return files


def is_kind(path: Path, suffix: str) -> bool:
    """True if the existing file ``path`` is of the kind vibmag writes as ``suffix`` (see the module docstring)."""
    if path.stat().st_size == 0:
        return True
    if suffix in (".h5", ".hdf5"):
        return is_vibmag_file(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    if suffix == ".png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if suffix == ".gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if suffix == ".mp4":
        return head[4:8] == b"ftyp"
    if suffix in (".csv", ".txt", ".log"):
        return b"\x00" not in head and not h5py.is_hdf5(path)
    return False


def is_recording_file(path) -> bool:
    """True if ``path`` is a vibmag HDF5 file holding a recording (``frames``) that is not a magnification result.

    Such a file is a user's data (saved with :func:`vibmag.save`): no output ever replaces it. A
    magnification result (its root carries ``method``, the provenance :func:`vibmag.magnify` writes) may be
    replaced by a new one with ``overwrite``.
    """
    try:
        with h5py.File(path, "r") as f:
            groups = [f] + [item for item in f.values() if isinstance(item, h5py.Group)]
            return any("frames" in g and "method" not in g.attrs for g in groups)
    except (OSError, ValueError, KeyError, RuntimeError):
        return False


def check_output(path, *, suffixes: Iterable[str], inputs: Iterable = (), overwrite: bool = False, what: str = "output") -> Path:
    """Refuse an output path that vibmag cannot or must not write; return it as a Path.

    Parameters
    ----------
    path : path-like
        The file to write.
    suffixes : iterable of str
        Suffixes the writer supports (``(".mp4", ".gif")``), lower case.
    inputs : iterable
        Input recordings (Datasets or paths): the output must be none of their files.
    overwrite : bool
        Whether an existing file of the right kind may be replaced.
    what : str
        What the file is, for the messages (``"output"``, ``"results file"``).

    Raises
    ------
    OutputError
        Unsupported suffix; a folder; the folder missing, not a folder or not writable.
    OverwriteError
        The path is an input, or exists (without ``overwrite``, or of another kind).
    """
    path = Path(path)
    suffixes = tuple(s.lower() for s in suffixes)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        named = f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise OutputError(f"{path}: the {what} has {named}; vibmag writes {' or '.join(suffixes)} here")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; the {what} must be a file ({' or '.join(suffixes)})")
    check_output_folder(path.parent, what=what, create=False)
    for source in inputs:
        for file in input_files(source):
            if path.exists() and os.path.samefile(file, path) or Path(file).resolve() == path.resolve():
                raise OverwriteError(f"{path}: is an input recording ({file}); write the {what} elsewhere")
    if path.exists():
        if not path.is_file():
            raise OutputError(f"{path}: exists and is not a regular file; refusing to replace it")
        if not overwrite:
            raise OverwriteError(f"{path}: exists; pass overwrite=True to replace it")
        if not is_kind(path, suffix):
            raise OverwriteError(f"{path}: exists and is not a {_KINDS.get(suffix, suffix)} file vibmag wrote; refusing to replace it")
        if suffix in (".h5", ".hdf5") and is_recording_file(path):
            raise OverwriteError(f"{path}: exists and holds a recording (not a vibmag result); refusing to replace it: write elsewhere")
    return path


def refuse_existing(paths: Iterable, overwrite: bool) -> None:
    """OverwriteError naming every one of ``paths`` that exists, unless ``overwrite`` (one message for a set of outputs)."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise OverwriteError(f"outputs exist: {', '.join(existing)}; pass --overwrite to replace them")


def check_output_folder(folder, *, what: str = "output folder", create: bool = True) -> Path:
    """Refuse a folder that is a file, or whose nearest existing ancestor is not writable.

    With ``create`` the folder may be missing (it is made later, after all
    checks); without, it must exist.
    """
    folder = Path(folder) if str(folder) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not a folder; the {what} must be a folder")
    existing = folder
    while not existing.exists():
        if not create:
            raise OutputError(f"{folder}: the folder does not exist; create it first")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{existing}: is a file, not a folder; the {what} cannot be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{existing}: the folder is not writable")
    return folder
