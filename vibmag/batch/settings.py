"""Batch settings: a TOML or YAML file, validated into :class:`BatchSettings`.

Every key has a default, so an empty file (or none) is valid. Unknown keys,
wrong types, quantities without units and malformed regions are all reported
at once, each naming its key (``analysis.n_peaks: expected an integer >= 1,
got 'five'``), before any work starts. The validated settings, defaults filled
in, are stored with every result (:meth:`BatchSettings.to_dict`).

Example (TOML)::

    [input]
    dataset = "/*/frames"     # frames of HDF5 files not written by vibmag (a path or a pattern)
    frame_rate = "2 kHz"      # overrides the files' own
    pixel_size = "0.05 mm"

    [analysis]
    n_peaks = 5
    deflection_shapes = true
    flow_options = {highpass = 4.0}   # the displacement estimator's options (docs/flow.md)

    [analysis.regions]        # default: the whole frame
    beam = [10, 0, 40, 48]    # box (y0, x0, y1, x1), half-open
    tip = [[0, 40], [20, 48], [0, 48]]   # polygon of (y, x) vertices
    whole = "all"             # the whole frame

    [magnify]                 # a section here means: make a clip of the dominant band
    alpha = 20
    method = "lagrangian"

    [output]
    plots = true

    [parallel]
    tile_size = 256
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis import RegionError, as_region
from ..errors import OptionError, UnitError, VibmagError
from ..flow import available_methods, check_flow_options
from ..pipeline import METHODS
from ..units import parse_quantity

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = [
    "BatchSettings",
    "InputSettings",
    "AnalysisSettings",
    "MagnifySettings",
    "OutputSettings",
    "ParallelSettings",
    "SettingsError",
    "load_settings",
    "parse_settings",
    "read_settings_file",
    "WHOLE_FRAME",
]

#: Name of the region analysed when the settings name none (the whole frame).
WHOLE_FRAME = "frame"


class SettingsError(VibmagError, ValueError):
    """Batch settings that cannot be used; the message lists every problem, each with its key."""


# --------------------------------------------------------------------------- checkers
# Each checker takes the raw value and returns the normalised one, or raises _Bad(reason).


class _Bad(Exception):
    """One invalid value; the reason is completed with the key by the caller."""


def _describe(value) -> str:
    return repr(value) if not isinstance(value, (dict, list)) else f"{type(value).__name__} {json.dumps(value)[:60]}"


def _optional(check: Callable) -> Callable:
    def checked(value):
        return None if value is None else check(value)

    checked.__doc__ = check.__doc__
    return checked


def _string(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"expected a non-empty string, got {_describe(value)}")
    return value.strip()


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected true or false, got {_describe(value)}")
    return value


def _integer(minimum: int) -> Callable:
    def check(value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Bad(f"expected an integer >= {minimum}, got {_describe(value)}")
        return int(value)

    return check


def _number(minimum: float, *, exclusive: bool = True) -> Callable:
    def check(value) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < minimum or (exclusive and value == minimum):
            raise _Bad(f"expected a number {'>' if exclusive else '>='} {minimum:g}, got {_describe(value)}")
        return float(value)

    return check


def _quantity(kind: str) -> Callable:
    def check(value) -> str:
        if not isinstance(value, str):
            raise _Bad(f"expected {kind} with its unit as a string (e.g. {_EXAMPLES[kind]!r}), got {_describe(value)}")
        try:
            quantity = parse_quantity(value, kind)
        except UnitError as exc:
            raise _Bad(str(exc)) from None
        if quantity.magnitude <= 0:
            raise _Bad(f"must be positive, got {value!r}")
        return value.strip()

    return check


_EXAMPLES = {"frequency": "2 kHz", "length": "0.05 mm"}


def _choice(choices: tuple) -> Callable:
    def check(value) -> str:
        if value not in choices:
            raise _Bad(f"expected one of {', '.join(map(repr, choices))}, got {_describe(value)}")
        return value

    return check


def _flow_method(value) -> str:
    return _choice(available_methods())(value)


def _flow_options(value) -> tuple:
    """A table of the displacement estimator's options, name = number, boolean or string; checked against the
    estimator once the section is read (:func:`_check_flow_options`)."""
    if not isinstance(value, Mapping):
        raise _Bad(f"expected a table of option = value, e.g. {{highpass = 4.0}}, got {_describe(value)}")
    bad = [name for name, option in value.items() if not isinstance(option, (bool, int, float, str))]
    if bad:
        raise _Bad(f"option {bad[0]!r}: expected a number, true/false or a string, got {_describe(value[bad[0]])}")
    return tuple(sorted(value.items()))


def _dataset_path(value) -> str:
    value = _string(value)
    if not value.startswith("/"):
        raise _Bad(f"expected an HDF5 path from the file's root, e.g. '/*/frames', got {value!r}")
    return value


def _region(value):
    """A region: "all", a box [y0, x0, y1, x1] or a polygon [[y, x], ...] (>= 3 vertices); see :func:`vibmag.analysis.as_region`."""
    if value == "all":
        return "all"
    try:
        return as_region(value)
    except RegionError as exc:
        raise _Bad(str(exc)) from None


def _regions(value) -> tuple:
    if not isinstance(value, Mapping):
        raise _Bad(f"expected a table of name = region, got {_describe(value)}")
    regions, problems = [], []
    for name, region in value.items():
        if not isinstance(name, str) or not name or "/" in name or name != name.strip():
            problems.append(f"region name {name!r} must be a non-empty string without '/' or surrounding spaces")
            continue
        try:
            regions.append((name, _region(region)))
        except _Bad as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise _Bad("; ".join(problems))
    return tuple(regions)


# --------------------------------------------------------------------------- sections


def _setting(default, check: Callable, doc: str):
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True)
class InputSettings:
    """How recordings are read."""

    dataset: str | None = _setting(None, _optional(_dataset_path), "frames dataset of HDF5 files not written by vibmag: a path or a pattern ('/*/frames')")
    frame_rate: str | None = _setting(None, _optional(_quantity("frequency")), "capture rate, overriding the files' own ('2 kHz')")
    pixel_size: str | None = _setting(None, _optional(_quantity("length")), "pixel size on the object ('0.05 mm')")
    bit_depth: int | None = _setting(None, _optional(_integer(1)), "effective bits of integer frames whose file does not say")


@dataclass(frozen=True)
class AnalysisSettings:
    """What is measured for every recording."""

    regions: tuple = _setting((), _regions, "named regions whose spectra, waveforms and peaks are computed (default: the whole frame)")
    n_peaks: int = _setting(5, _integer(1), "peaks listed per region")
    flow_method: str | None = _setting(None, _optional(_flow_method), "displacement estimator (default vibmag's)")
    flow_options: tuple = _setting((), _flow_options, "its options, e.g. {highpass = 4.0} so a lighting change is not read as motion (docs/flow.md); also used by the clip")
    deflection_shapes: bool = _setting(False, _boolean, "operating deflection shape at every peak")
    uncertainty: bool = _setting(True, _boolean, "measure the displacement's error parts, so the peaks' noise floor, SNR and amplitude sigma are the measurement's own (twice the memory per tile; false: read off the spectrum)")

    def region_items(self) -> tuple:
        """``(name, region)`` pairs, region None for the whole frame; the whole frame when none are set."""
        items = self.regions or ((WHOLE_FRAME, "all"),)
        return tuple((name, None if region == "all" else region) for name, region in items)

    def flow_option_items(self) -> dict:
        """The estimator's options as keywords (``{}`` when none are set)."""
        return dict(self.flow_options)


@dataclass(frozen=True)
class MagnifySettings:
    """The magnified clip of each recording's dominant band (around the most salient peak of the first region)."""

    enabled: bool = _setting(False, _boolean, "make the clip (true whenever a [magnify] section is given, unless set false)")
    alpha: float = _setting(20.0, _number(0.0), "magnification factor")
    method: str = _setting("flowmag", _choice(METHODS), "magnification method")
    relative_width: float = _setting(0.25, _number(0.0), "half-width of the band relative to the peak frequency")
    region: object = _setting(None, _optional(_region), "where to magnify (default: the whole frame)")
    fps: float | None = _setting(None, _optional(_number(0.0)), "playback rate of the clip (default: min(capture rate, 30))")
    max_frames: int = _setting(500, _integer(2), "the clip is the first max_frames frames of longer recordings")


@dataclass(frozen=True)
class OutputSettings:
    """Files written besides the results HDF5 file."""

    plots: bool = _setting(False, _boolean, "a PNG of each recording's spectrum with its peaks and waveform")
    files: str | None = _setting(None, _optional(_string), "folder for PNG and MP4 files, relative to the results file (default: '<results stem>_files')")


@dataclass(frozen=True)
class ParallelSettings:
    """How the work is split; the tile layout is part of the result, the rest is not."""

    tile_above_mb: float = _setting(512.0, _number(0.0, exclusive=False), "split a recording into tiles of space when its displacement (float32) exceeds this many MiB")
    tile_size: int = _setting(256, _integer(8), "side of a tile, px")
    tile_margin: int = _setting(32, _integer(0), "context measured around each tile and then discarded, px")
    retries: int = _setting(1, _integer(0), "times a failed task is rerun before its recording is marked failed")


_SECTIONS = {
    "input": InputSettings,
    "analysis": AnalysisSettings,
    "magnify": MagnifySettings,
    "output": OutputSettings,
    "parallel": ParallelSettings,
}
#: Settings that do not change results: results made with other values are still current.
_NOT_IN_DIGEST = {("parallel", "retries")}
#: Settings added after results were first stored, left out of the digest while at this default, so that results
#: made before they existed stay current.
_IN_DIGEST_IF_SET = {("analysis", "flow_options"): {}}


@dataclass(frozen=True)
class BatchSettings:
    """All settings of a batch run; build with :func:`parse_settings` or :func:`load_settings`."""

    input: InputSettings = field(default_factory=InputSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    magnify: MagnifySettings = field(default_factory=MagnifySettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    parallel: ParallelSettings = field(default_factory=ParallelSettings)
    source: str = field(default="defaults", compare=False)

    def to_dict(self) -> dict:
        """Plain nested dict (JSON-able), defaults included; :func:`parse_settings` reads it back."""
        out = {}
        for section in _SECTIONS:
            values = {}
            for f in dataclasses.fields(getattr(self, section)):
                value = getattr(getattr(self, section), f.name)
                if f.name == "regions":
                    value = {name: _plain(region) for name, region in value}
                elif f.name == "flow_options":
                    value = dict(value)
                values[f.name] = _plain(value)
            out[section] = values
        return out

    def digest(self) -> str:
        """A fingerprint of every setting that changes results (so resumed runs can tell stale results)."""
        data = self.to_dict()
        for section, key in _NOT_IN_DIGEST:
            data[section].pop(key)
        for (section, key), default in _IN_DIGEST_IF_SET.items():
            if data[section][key] == default:
                data[section].pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **sections: Mapping) -> BatchSettings:
        """A copy with some keys changed, validated: ``settings.replace(input={"frame_rate": "2 kHz"})``."""
        data = self.to_dict()
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        return parse_settings(data, source=self.source)


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def parse_settings(data: Mapping | None, *, source: str = "settings") -> BatchSettings:
    """Validate a settings mapping (as read from TOML or YAML) into :class:`BatchSettings`.

    Parameters
    ----------
    data : mapping or None
        Sections ``input``, ``analysis``, ``magnify``, ``output``, ``parallel``
        (see the module docstring); missing keys take their defaults.
    source : str
        Named in error messages (the settings file).

    Raises
    ------
    SettingsError
        Listing every problem as ``key: reason``.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise SettingsError(f"{source}: expected a table of sections ({', '.join(_SECTIONS)}), got {_describe(data)}")
    problems = [f"{key}: unknown section{_suggest(key, _SECTIONS)}" for key in data if key not in _SECTIONS]
    sections = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.append(f"{name}: expected a table of settings, got {_describe(raw)}")
            continue
        fields = {f.name: f for f in dataclasses.fields(cls)}
        problems += [f"{name}.{key}: unknown setting{_suggest(key, fields)}" for key in raw if key not in fields]
        values = {}
        for key, f in fields.items():
            if key in raw:
                try:
                    values[key] = f.metadata["check"](raw[key])
                except _Bad as exc:
                    problems.append(f"{name}.{key}: {exc}")
        if name == "magnify" and "magnify" in data and "enabled" not in raw:
            values["enabled"] = True
        sections[name] = cls(**values)
        if name == "analysis" and not any(p.startswith(("analysis.flow_method:", "analysis.flow_options:")) for p in problems):
            problems += _check_flow_options(sections[name])
    if problems:
        raise SettingsError(f"{source}: invalid settings:\n  " + "\n  ".join(problems))
    return BatchSettings(**sections, source=source)


def _check_flow_options(analysis: AnalysisSettings) -> list[str]:
    """The problem with ``analysis.flow_options`` for ``analysis.flow_method`` (an unknown name, a bad value), if any."""
    try:
        check_flow_options(analysis.flow_method, analysis.flow_option_items())
    except OptionError as exc:
        return [f"analysis.flow_options: {exc}"]
    return []


def _suggest(key, known) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


def read_settings_file(path) -> dict:
    """The raw mapping of a ``.toml``, ``.yaml`` or ``.yml`` settings file; SettingsError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{path}: no such settings file")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    if suffix in (".yaml", ".yml"):
        import yaml  # here, not at the top: PyYAML is no declared dependency (dask brings it); only YAML settings need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from None
        return {} if data is None else data
    raise SettingsError(f"{path}: settings files are .toml, .yaml or .yml, not {suffix or 'extensionless'}")


def load_settings(path=None, **sections: Mapping) -> BatchSettings:
    """Read and validate a settings file (or the defaults when ``path`` is None), with optional overrides.

    ``load_settings("batch.toml", input={"frame_rate": "2 kHz"})`` takes the
    file's settings and replaces ``input.frame_rate``; the result is validated
    as a whole.
    """
    data = read_settings_file(path) if path is not None else {}
    if not isinstance(data, Mapping):
        raise SettingsError(f"{path}: expected a table of sections ({', '.join(_SECTIONS)}), got {_describe(data)}")
    data = {name: dict(values) if isinstance(values, Mapping) else values for name, values in data.items()}
    for section, values in sections.items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            current = data.get(section)
            data[section] = {**(current if isinstance(current, Mapping) else {}), **given}
    return parse_settings(data, source=str(path) if path is not None else "settings")
