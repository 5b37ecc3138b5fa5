"""HDF5: vibmag's own results files, and foreign HDF5 recordings.

vibmag writes netCDF-4 flavoured HDF5 through xarray's h5netcdf engine, so
any HDF5 or netCDF tool reads the files, dimensions and units included.
:func:`save` is lossless for vibmag's data: values, dtypes (bool and complex
too), coordinates, and attributes (strings and numbers as they are; other
values such as dicts, lists or None as JSON text marked ``json:``, decoded
again by :func:`load`).

Writes are atomic: the file is written (or, to add a group, copied and
extended) under a temporary name in the same folder and renamed into place,
so a crash leaves either the old file or the new one. Existing files are never
overwritten unless asked, a file not written by vibmag is never modified, and
the input recording a result came from is never written to.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import dask.array as da
import h5py
import numpy as np
import pint
import xarray as xr

from .. import __version__
from ..errors import OverwriteError, RecordingError, RecordingNotFoundError, VibmagError
from ..files import atomic_path
from ..recording import guard_values, lazy_time_chunks, make_recording

__all__ = ["save", "load", "read_hdf5", "is_vibmag_file", "FRAME_RATE_ATTRS", "BIT_DEPTH_ATTRS"]

FILE_MARKER = "vibmag_file_version"
_JSON_PREFIX = "json:"
_OBJECT_ATTR = "vibmag_object"
_NAME_ATTR = "vibmag_dataarray_name"
_UNNAMED = "__xarray_dataarray_variable__"
#: Attribute names read as the frame rate of a foreign HDF5 recording (number: Hz).
FRAME_RATE_ATTRS = ("frame_rate", "framerate", "fps", "frame_rate_hz", "record_rate", "sample_rate", "sampling_rate", "fs")
#: Attribute names read as the effective bit depth of integer frames.
BIT_DEPTH_ATTRS = ("bit_depth", "bitdepth", "effective_bit_depth", "bits")
#: Attribute names read as the pixel size (string with unit, or a number in mm).
PIXEL_SIZE_ATTRS = ("pixel_size", "pixel_size_mm")
#: What h5py and the netCDF layer raise on corrupt, truncated or malformed files (made RecordingError).
H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError)
_OPEN_OPTIONS = dict(engine="h5netcdf", decode_times=False, decode_timedelta=False, mask_and_scale=False, phony_dims="sort")


def save(obj: xr.Dataset | xr.DataArray, path: str | os.PathLike, *, group: str | None = None, overwrite: bool = False) -> Path:
    """Write a Dataset or DataArray to HDF5, losslessly and atomically.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Plain or pint-quantified (units move into ``units`` attributes);
        dask-backed data is written chunk by chunk.
    path : path-like
        The HDF5 file (``.h5``/``.hdf5``).
    group : str, optional
        Store under this group (``"run1"``, ``"results/beam"``), so several
        results share one file. An existing vibmag file gains the group.
    overwrite : bool
        Replace an existing file (``group=None``) or group. Off by default.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    OverwriteError
        If the file (or group) exists and ``overwrite`` is False, if the file
        exists but was not written by vibmag, or if it is ``obj``'s own source
        recording.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np, vibmag
    >>> ds = vibmag.open_recording(np.zeros((4, 8, 8)), frame_rate="1 kHz", pixel_size="0.05 mm")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.h5"
    >>> vibmag.save(ds, path, group="clip1").name
    'run.h5'
    >>> disp = vibmag.estimate_displacement(ds)
    >>> vibmag.save(disp, path, group="clip1/displacement").name    # a second result in the same file
    'run.h5'
    >>> back = vibmag.load(path, "clip1/displacement")
    >>> back.dims, back.attrs["units"], back.attrs["pixel_size"]
    (('time', 'component', 'y', 'x'), 'px', '0.05 mm')
    >>> vibmag.save(ds, path, group="clip1")
    Traceback (most recent call last):
    ...
    vibmag.errors.OverwriteError: ...: group 'clip1' exists; pass overwrite=True to replace it
    """
    path = Path(path)
    _refuse_source(obj, path)
    dataset = _encode(obj)
    if path.exists():
        _check_target(path, group, overwrite)
    with atomic_path(path) as tmp:  # .<name>.<hex>.tmp: ResultsStore removes those left by a killed write
        appending = path.exists() and group is not None
        if appending:
            shutil.copy2(path, tmp)
            _drop_group(tmp, group)
        encoding = {name: {"_FillValue": None} for name in dataset.variables}
        dataset.to_netcdf(tmp, mode="a" if appending else "w", group=group, engine="h5netcdf", invalid_netcdf=True, encoding=encoding)
        with h5py.File(tmp, "a") as f:
            f.attrs[FILE_MARKER] = __version__
    return path


def _refuse_source(obj, path: Path) -> None:
    """OverwriteError if ``path`` is the recording ``obj`` was read from."""
    source = obj.attrs.get("source")
    if source and os.path.exists(source) and path.exists() and os.path.samefile(source, path):
        raise OverwriteError(f"{path}: refusing to write into the input recording this data came from")


def _check_target(path: Path, group: str | None, overwrite: bool) -> None:
    """OverwriteError unless writing into the existing ``path`` is allowed."""
    if not is_vibmag_file(path):
        raise OverwriteError(f"{path}: exists and was not written by vibmag; refusing to modify it")
    if group is None and not overwrite:
        raise OverwriteError(f"{path}: exists; pass overwrite=True to replace it, or group= to add to it")
    if group is not None and not overwrite:
        with h5py.File(path, "r") as f:
            if group.strip("/") in f:
                raise OverwriteError(f"{path}: group {group!r} exists; pass overwrite=True to replace it")


def _drop_group(path: Path, group: str) -> None:
    """Delete ``group`` from the HDF5 file at ``path`` if present."""
    with h5py.File(path, "a") as f:
        if group.strip("/") in f:
            del f[group.strip("/")]


def is_vibmag_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is an HDF5 file written by :func:`save`."""
    try:
        with h5py.File(path, "r") as f:
            return FILE_MARKER in f.attrs
    except (OSError, ValueError):
        return False


def _encode(obj) -> xr.Dataset:
    """A Dataset ready for netCDF: units dequantified, DataArrays marked, attrs JSON-encoded."""
    if not isinstance(obj, (xr.Dataset, xr.DataArray)):
        raise TypeError(f"save() takes an xarray Dataset or DataArray, got {type(obj).__name__}")
    obj = obj.pint.dequantify() if _is_quantified(obj) else obj
    if isinstance(obj, xr.DataArray):
        name = obj.name if obj.name is not None else _UNNAMED
        dataset = obj.to_dataset(name=name, promote_attrs=False)
        dataset.attrs = {_OBJECT_ATTR: "DataArray", _NAME_ATTR: str(name)}
    else:
        dataset = obj.copy(deep=False)
        dataset.attrs = dict(obj.attrs)
    dataset.attrs = _encode_attrs(dataset.attrs)
    for variable in dataset.variables.values():
        variable.attrs = _encode_attrs(variable.attrs)
    return dataset


def _is_quantified(obj) -> bool:
    """True if any variable of ``obj`` holds a pint Quantity."""
    variables = obj.variables.values() if isinstance(obj, xr.Dataset) else [obj.variable, *obj.coords.values()]
    return any(isinstance(v.data, pint.Quantity) for v in variables)


def _encode_attrs(attrs: Mapping) -> dict:
    """Attrs netCDF stores as they are stay; others become 'json:...' strings."""
    return {key: value if _netcdf_native(value) else _JSON_PREFIX + json.dumps(_jsonable(value)) for key, value in attrs.items()}


def _netcdf_native(value) -> bool:
    """True for attribute values netCDF round-trips exactly (str, int, float, numeric arrays)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, str):
        return not value.startswith(_JSON_PREFIX)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.size > 1 and value.dtype.kind in "iuf"


def _jsonable(value):
    """NumPy scalars and arrays as plain Python for JSON."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _decode_attrs(attrs: Mapping) -> dict:
    """Inverse of :func:`_encode_attrs`."""
    return {key: json.loads(value[len(_JSON_PREFIX):]) if isinstance(value, str) and value.startswith(_JSON_PREFIX) else value for key, value in attrs.items()}


def load(path: str | os.PathLike, group: str | None = None, *, chunks: Mapping | None = None) -> xr.Dataset | xr.DataArray:
    """Read back what :func:`save` wrote.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save`.
    group : str, optional
        The group to read; default the root, or the only group if the root
        holds no data.
    chunks : mapping, optional
        Dask chunks; by default ``frames`` is read lazily in chunks of about
        64 MB along time and everything else is loaded.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        Whichever was saved, with its attrs decoded.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np, vibmag
    >>> ds = vibmag.open_recording(np.ones((2, 4, 4)), frame_rate="2 kHz")
    >>> path = vibmag.save(ds, pathlib.Path(tempfile.mkdtemp()) / "a.h5")
    >>> back = vibmag.load(path)
    >>> back.attrs["frame_rate"], back["time"].attrs["units"], bool((back["frames"] == ds["frames"]).all())
    ('2000 Hz', 's', True)
    """
    path = _existing(path)
    if not is_vibmag_file(path):
        raise RecordingError(f"{path}: not a file written by vibmag.save; use open_recording(path, dataset=...) for foreign HDF5")
    group = group if group is not None else _default_group(path)
    try:
        dataset = xr.open_dataset(path, group=group, chunks=chunks if chunks is not None else {}, **_OPEN_OPTIONS)
        dataset = _rechunk_or_load(dataset, chunks)
    except VibmagError:
        raise
    except H5_ERRORS as exc:
        raise RecordingError(f"{path}: cannot read group {group!r}: corrupt or truncated HDF5 file ({type(exc).__name__}: {exc})") from exc
    dataset.attrs = _decode_attrs({k: v for k, v in dataset.attrs.items() if k != FILE_MARKER})
    for variable in dataset.variables.values():
        variable.attrs = _decode_attrs(variable.attrs)
    if dataset.attrs.get(_OBJECT_ATTR) == "DataArray":
        array = dataset[dataset.attrs[_NAME_ATTR]]
        return array.rename(None) if array.name == _UNNAMED else array
    return dataset


def _existing(path) -> Path:
    """``path`` as a Path; RecordingNotFoundError if there is no such file."""
    path = Path(path)
    if not path.is_file():
        raise RecordingNotFoundError(f"{path}: no such file")
    return path


def _default_group(path: Path) -> str | None:
    """None if the root holds data, else the only group; RecordingError if ambiguous."""
    try:
        with h5py.File(path, "r") as f:
            if any(isinstance(item, h5py.Dataset) for item in f.values()):
                return None
            groups = [name for name, item in f.items() if isinstance(item, h5py.Group)]
    except OSError as exc:
        raise RecordingError(f"{path}: not a readable HDF5 file ({exc})") from exc
    if len(groups) == 1:
        return groups[0]
    raise RecordingError(f"{path}: holds several groups {groups}; pass group= (or dataset=) to choose one")


def _rechunk_or_load(dataset: xr.Dataset, chunks) -> xr.Dataset:
    """Keep ``frames`` lazy in time chunks, load the rest (unless chunks were given)."""
    if chunks is not None:
        return dataset
    frames = dataset.get("frames")
    if frames is None or "time" not in frames.dims:
        return dataset.load()
    lazy = frames.chunk({"time": lazy_time_chunks(frames.shape[1:])})
    return dataset.drop_vars("frames").load().assign(frames=lazy)


def read_hdf5(path: str | os.PathLike, *, dataset: str | None = None, frame_rate=None, pixel_size=None, bit_depth=None) -> xr.Dataset:
    """Open an HDF5 recording lazily: vibmag's own layout, or a foreign file's dataset.

    Parameters
    ----------
    path : path-like
        ``.h5``/``.hdf5`` file.
    dataset : str, optional
        For a vibmag file: the group holding the recording. For a foreign
        file: the path of the frames dataset (``"/cam0/frames"``), shaped
        (time, y, x) or (time, y, x, channel).
    frame_rate, pixel_size : str or pint.Quantity, optional
        Override (or supply) the rate and pixel size. A foreign file's rate is
        otherwise read from the dataset's, its parents' or the root's
        attributes (:data:`FRAME_RATE_ATTRS`; a bare number is Hz).
    bit_depth : int, optional
        Effective bits of integer frames (else :data:`BIT_DEPTH_ATTRS`, else the dtype's range).

    Returns
    -------
    xarray.Dataset
        The recording layout (API.md), frames dask-backed.
    """
    path = _existing(path)
    if not h5py.is_hdf5(path):
        raise RecordingError(f"{path}: not an HDF5 file (no HDF5 signature)")
    try:
        if is_vibmag_file(path):
            return _read_own(path, dataset, frame_rate, pixel_size)
        if dataset is None:
            raise RecordingError(
                f"{path}: not a vibmag file; pass dataset= with the path of its frames dataset "
                f"(candidates: {', '.join(_frame_candidates(path)) or 'none found'})"
            )
        return _read_foreign(path, dataset, frame_rate=frame_rate, pixel_size=pixel_size, bit_depth=bit_depth)
    except VibmagError:
        raise
    except H5_ERRORS as exc:
        raise RecordingError(f"{path}: corrupt or truncated HDF5 file ({type(exc).__name__}: {exc})") from exc


def _read_own(path: Path, group, frame_rate, pixel_size) -> xr.Dataset:
    """A recording saved by :func:`save`, with optional rate/pixel-size overrides."""
    group = group if group is not None else _default_group(path)
    data = load(path, group)
    if not isinstance(data, xr.Dataset) or "frames" not in data:
        raise RecordingError(f"{path}: group {group!r} holds no 'frames' variable; it is not a recording")
    frames = data["frames"]
    if frames.dims[:3] != ("time", "y", "x") or frames.ndim not in (3, 4) or frames.dtype.kind != "f":
        raise RecordingError(f"{path}: group {group!r}: 'frames' is {frames.dtype} {frames.dims}, not a vibmag recording's float "
                             "(time, y, x[, channel]) intensities")
    if frame_rate is None and "frame_rate" not in data.attrs:
        raise RecordingError(f"{path}: group {group!r} states no frame_rate; pass frame_rate=, e.g. frame_rate='2 kHz'")
    make_recording(np.zeros((1, 1, 1), np.uint8), frame_rate=frame_rate or data.attrs["frame_rate"],
                   pixel_size=pixel_size or data.attrs.get("pixel_size"), source=str(path))  # the stored rate and pixel size parse, > 0
    # read through H5Array (read-only, corrupt chunks raise RecordingError), values checked as they are read
    lazy = lazy_from_hdf5(path, f"{(group or '').strip('/')}/frames".strip("/"), frames.shape, frames.dtype)
    data["frames"] = (frames.dims, guard_values(lazy, str(path)).astype(np.float32), frames.attrs)
    data.attrs["source"] = str(path)
    if frame_rate is not None or pixel_size is not None:
        rebuilt = make_recording(data["frames"].data, frame_rate=frame_rate or data.attrs["frame_rate"], pixel_size=pixel_size or data.attrs.get("pixel_size"), source=str(path))
        data = data.assign_coords(time=rebuilt["time"]).assign_attrs(rebuilt.attrs)
    return data


def _frame_candidates(path: Path) -> list[str]:
    """Paths of 3-D and 4-D datasets in an HDF5 file (what could hold frames)."""
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: found.append("/" + name) if isinstance(item, h5py.Dataset) and item.ndim in (3, 4) else None)
    return found


def _read_foreign(path: Path, dataset: str, *, frame_rate, pixel_size, bit_depth) -> xr.Dataset:
    """Frames from a foreign HDF5 dataset, lazily, with metadata from its attributes."""
    with h5py.File(path, "r") as f:
        if dataset.strip("/") not in f or not isinstance(f[dataset.strip("/")], h5py.Dataset):
            raise RecordingError(f"{path}: no dataset {dataset!r} (candidates: {', '.join(_frame_candidates(path)) or 'none'})")
        attrs = _inherited_attrs(f, dataset.strip("/"))
        item = f[dataset.strip("/")]
        shape, dtype = tuple(item.shape), item.dtype
    if dtype.kind not in "uifb":
        raise RecordingError(f"{path}: dataset {dataset} holds {dtype} values (shape {shape}); frames must be integer or float numbers")
    if len(shape) not in (3, 4):
        raise RecordingError(f"{path}: dataset {dataset} has shape {shape}; frames must be shaped (time, y, x) or (time, y, x, channel)")
    rate = frame_rate if frame_rate is not None else _first_attr(attrs, FRAME_RATE_ATTRS)
    if rate is None:
        raise RecordingError(f"{path}: {dataset} has no frame-rate attribute ({', '.join(FRAME_RATE_ATTRS)}); pass frame_rate=, e.g. frame_rate='2 kHz'")
    if isinstance(rate, (bytes, np.ndarray)) or (isinstance(rate, (int, float, np.number)) and not np.isfinite(rate)):
        raise RecordingError(f"{path}: {dataset}'s frame-rate attribute {rate!r} is not a rate; pass frame_rate=, e.g. frame_rate='2 kHz'")
    frames = lazy_from_hdf5(path, dataset.strip("/"), shape, dtype)
    return make_recording(
        frames,
        frame_rate=rate if not isinstance(rate, (int, float, np.number)) else f"{float(rate)!r} Hz",
        pixel_size=pixel_size if pixel_size is not None else _pixel_size_attr(attrs),
        bit_depth=bit_depth if bit_depth is not None else _first_attr(attrs, BIT_DEPTH_ATTRS),
        source=str(path),
        attrs={"format": "hdf5", "dataset": "/" + dataset.strip("/")},
    )


class H5Array:
    """A read-only, lazily read HDF5 dataset: ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` for dask.

    Each read opens the file in mode ``"r"`` (nothing is held open between
    reads, so the file is never locked or modified), and an HDF5 error while
    reading (a corrupt or truncated chunk) becomes a :class:`RecordingError`
    naming the file. It pickles as its path and dataset name, so dask workers
    reopen the file themselves.
    """

    def __init__(self, path, name: str, shape: tuple, dtype):
        self.path, self.name = str(path), str(name)
        self.shape, self.dtype, self.ndim = tuple(int(n) for n in shape), np.dtype(dtype), len(shape)

    def __getitem__(self, index) -> np.ndarray:
        try:
            with h5py.File(self.path, "r") as f:
                return np.asarray(f[self.name][index])
        except H5_ERRORS as exc:
            raise RecordingError(f"{self.path}: cannot read {self.name} (corrupt or truncated HDF5 data: {type(exc).__name__}: {exc})") from exc


def lazy_from_hdf5(path, name: str, shape: tuple, dtype) -> da.Array:
    """A dask array over the HDF5 dataset ``name`` of ``path``, chunked along time (about 64 MB of float32 each)."""
    stat = os.stat(path)
    array = H5Array(path, name, shape, dtype)
    chunks = (lazy_time_chunks(shape[1:], max(np.dtype(dtype).itemsize, 4)),) + tuple(shape[1:])
    return da.from_array(array, chunks=chunks, name=f"h5-{Path(path).resolve()}-{name}-{stat.st_size}-{stat.st_mtime_ns}",
                         meta=np.empty((0,) * len(shape), array.dtype))


def _inherited_attrs(f: h5py.File, dataset: str) -> dict:
    """Attributes of the dataset, then its parent groups up to the root (nearest wins)."""
    attrs: dict = {}
    node = f[dataset]
    while True:
        for key, value in node.attrs.items():
            attrs.setdefault(key.lower(), value.decode() if isinstance(value, bytes) else value)
        if node.name == "/":
            return attrs
        node = node.parent


def _first_attr(attrs: dict, names: tuple):
    """The value of the first of ``names`` present in ``attrs``, or None."""
    for name in names:
        if name in attrs:
            value = attrs[name]
            return value.item() if isinstance(value, np.generic) else value
    return None


def _pixel_size_attr(attrs: dict):
    """Pixel size from attributes: a string with unit, or a number in mm."""
    value = _first_attr(attrs, PIXEL_SIZE_ATTRS)
    if isinstance(value, (int, float)):
        return f"{float(value)!r} mm"
    return value
