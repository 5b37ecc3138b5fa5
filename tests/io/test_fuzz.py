"""Property-based: corrupted headers and truncated files raise vibmag's own errors, nothing else."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vibmag
from vibmag import sample_data
from vibmag.errors import VibmagError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def open_or_vibmag_error(path, **kwargs):
    """Open and read every frame; return the Dataset, or None if vibmag refused with its own error."""
    try:
        ds = vibmag.open_recording(path, **kwargs)
        ds["frames"].values  # decoding must not crash either
        return ds
    except VibmagError:
        return None


def copy_pair(tmp_path, name, suffix):
    header = sample_data.path(name)
    dest = tmp_path / f"rec{suffix}"
    dest.write_bytes(header.read_bytes())
    (tmp_path / "rec.mraw").write_bytes(header.with_suffix(".mraw").read_bytes())
    return dest


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize(("name", "suffix"), [("showcase_beams", ".cih"), ("speckle_beam", ".cihx")])
def test_corrupted_header_bytes(tmp_path, name, suffix, data):
    header = copy_pair(tmp_path, name, suffix)
    raw = bytearray(header.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    header.write_bytes(bytes(raw))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    ds = open_or_vibmag_error(header)
    if ds is not None:  # the flips spared what matters: then the result is a valid recording
        frames = ds["frames"].values
        assert frames.dtype == np.float32 and frames.ndim in (3, 4) and min(frames.shape[:3]) >= 1
        assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1
        assert float(ds["time"][-1]) >= 0 and ds.attrs["frame_rate"].endswith(" Hz")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written, nothing changed


@FUZZ
@given(line=st.sampled_from(["Record Rate(fps)", "Total Frame", "Image Width", "Image Height", "Color Bit", "Save Step", "EffectiveBit Depth", "Color Type"]), value=st.text(max_size=12))
def test_corrupted_header_values(tmp_path, line, value):
    header = copy_pair(tmp_path, "showcase_beams", ".cih")
    lines = [f"{line} : {value}" if row.startswith(line + " :") else row for row in header.read_text("latin-1").splitlines()]
    header.write_text("\n".join(lines), "latin-1", errors="replace")
    ds = open_or_vibmag_error(header)
    if ds is not None:
        assert ds["frames"].dtype == np.float32 and ds.sizes["time"] >= 1


@FUZZ
@given(keep=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_mraw(tmp_path, keep):
    header = copy_pair(tmp_path, "ball", ".cihx")
    mraw = tmp_path / "rec.mraw"
    raw = mraw.read_bytes()
    mraw.write_bytes(raw[: int(len(raw) * keep)])
    assert open_or_vibmag_error(header) is None


@FUZZ
@given(payload=st.binary(max_size=300), suffix=st.sampled_from([".h5", ".npy", ".cih", ".cihx"]))
def test_random_bytes_in_any_format(tmp_path, payload, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(payload)
    (tmp_path / "junk.mraw").write_bytes(payload)
    assert open_or_vibmag_error(path, frame_rate="1 kHz") is None


# ======================================================================================================================
# A corpus of damaged files made at test time from the shipped recordings, for every reader (issue 15).
#
# Every case must end in a valid recording or a VibmagError (never another exception), within CASE_SECONDS (never a
# hang), and leave every file of its folder byte for byte as it was (inputs are opened read-only; nothing is written
# beside them). The default run tries a few hundred cases; ``-m slow`` runs thousands. Each test prints its tally.
# ======================================================================================================================

import hashlib  # noqa: E402  (the corpus section keeps its imports with it)
import signal  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import tifffile  # noqa: E402
from PIL import Image  # noqa: E402

from vibmag.io.video_write import write_video  # noqa: E402

#: No case may take longer than this (a hang is a failure, not a stuck run).
CASE_SECONDS = 30
#: Cases per (base file, damage) in the default run and in the slow run.
DEFAULT_PER_KIND, SLOW_PER_KIND = 4, 40
_RATE = {"frame_rate": "150 Hz"}


def _crop():
    """8 frames, 40 x 64 px, of the shipped beam recording, as uint8 counts."""
    frames = sample_data.open_sample("showcase_beams")["frames"].values[:8, :, :64]
    return np.rint(frames * 255).astype(np.uint8)


def _base_files(folder: Path) -> dict:
    """{name: (files {relative path: bytes}, file to open, open_recording keywords)} made from the shipped recordings."""
    bases = {}
    for name, key in (("showcase", "showcase_beams"), ("ball", "ball"), ("beam", "speckle_beam")):
        header = sample_data.path(key)
        bases[name] = ({f"rec{header.suffix}": header.read_bytes(), "rec.mraw": header.with_suffix(".mraw").read_bytes()}, f"rec{header.suffix}", {})
    bases["cine"] = ({"rec.cine": sample_data.path("small_cine").read_bytes()}, "rec.cine", {})
    counts = _crop()
    work = folder / "make"
    work.mkdir()
    ds = vibmag.open_recording(counts, frame_rate="150 Hz", pixel_size="0.1 mm")
    vibmag.save(ds, work / "own.h5")
    with h5py.File(work / "foreign.h5", "w") as f:
        f.create_dataset("cam0/frames", data=counts, chunks=(2, 40, 64)).attrs["frame_rate"] = 150.0
    np.save(work / "rec.npy", counts)
    write_video(ds, work / "rec.mp4", fps=15)
    write_video(ds, work / "rec.gif", fps=15)
    bases["own_h5"] = ({"rec.h5": (work / "own.h5").read_bytes()}, "rec.h5", {})
    bases["foreign_h5"] = ({"rec.h5": (work / "foreign.h5").read_bytes()}, "rec.h5", {"dataset": "/cam0/frames"})
    bases["npy"] = ({"rec.npy": (work / "rec.npy").read_bytes()}, "rec.npy", _RATE)
    bases["mp4"] = ({"rec.mp4": (work / "rec.mp4").read_bytes()}, "rec.mp4", _RATE)
    bases["gif"] = ({"rec.gif": (work / "rec.gif").read_bytes()}, "rec.gif", {})
    for suffix in (".png", ".tif"):
        files = {}
        for i, frame in enumerate(counts[:4]):
            target = work / f"f{i}{suffix}"
            Image.fromarray(frame).save(target) if suffix == ".png" else tifffile.imwrite(target, frame)
            files[f"frames/f{i}{suffix}"] = target.read_bytes()
        bases[suffix[1:]] = (files, "frames", _RATE)
    return bases


def _damaged(bases: dict, per_kind: int, seed: int):
    """Yield (label, files, open name, keywords): truncations, bit flips, wrong sizes, swapped extensions."""
    rng = np.random.default_rng(seed)
    swaps = [".cih", ".cihx", ".mraw", ".cine", ".h5", ".npy", ".mp4", ".gif", ".png", ".tif"]
    for base, (files, main_name, kwargs) in bases.items():
        for target, raw in files.items():
            size = len(raw)
            offsets = sorted({int(size * q) for q in rng.random(per_kind)} | {int(x) for x in rng.integers(0, min(size, 4096), per_kind)})
            for cut in offsets[: 2 * per_kind]:
                yield f"{base}:{target}:truncate@{cut}", {**files, target: raw[:cut]}, main_name, kwargs
            for region in ("header", "data"):
                low, high = (0, min(size, 4096)) if region == "header" else (min(size, 4096), size)
                if high <= low:
                    continue
                for _ in range(per_kind):
                    damaged = bytearray(raw)
                    for at in rng.integers(low, high, int(rng.integers(1, 9))):
                        damaged[at] ^= 1 << int(rng.integers(0, 8))
                    yield f"{base}:{target}:flip-{region}", {**files, target: bytes(damaged)}, main_name, kwargs
            for _ in range(max(1, per_kind // 2)):
                extra = rng.integers(0, 256, int(rng.integers(1, 4097)), dtype=np.uint8).tobytes()
                yield f"{base}:{target}:grown", {**files, target: raw + extra}, main_name, kwargs
                yield f"{base}:{target}:shrunk-odd", {**files, target: raw[: max(0, size - int(rng.integers(1, 64)))]}, main_name, kwargs
        if "/" not in main_name:
            for suffix in rng.choice(swaps, size=min(len(swaps), max(2, per_kind)), replace=False):
                renamed = main_name.rsplit(".", 1)[0] + str(suffix)
                if renamed != main_name:
                    moved = {renamed if k == main_name else k: v for k, v in files.items()}
                    yield f"{base}:swap->{suffix}", moved, renamed, {**kwargs, "frame_rate": "150 Hz"}


_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64", "bool", "complex64", "S1", ">u2", "<f8"]
_VALUES = [np.nan, np.inf, -np.inf, 1e30, -1e30, -1.0, 2.0, 1.0 + 1e-3, 0.5]


def _valued(per_kind: int, seed: int):
    """Yield cases of NaN/Inf/huge values and wrong dtypes, as .npy and foreign and own HDF5 files."""
    rng = np.random.default_rng(seed)
    counts = _crop()
    for dtype in _DTYPES:
        for _ in range(max(1, per_kind // 2)):
            kind = np.dtype(dtype).kind
            if kind == "f":
                frames = (counts / 255.0).astype(dtype)
            elif kind == "S":
                frames = np.full(counts.shape, b"a", dtype)
            else:
                frames = counts.astype(dtype)
            frames = np.ascontiguousarray(frames)
            if kind in "fc":
                for _ in range(int(rng.integers(0, 4))):
                    with np.errstate(over="ignore", invalid="ignore"):  # 1e30 in float16 is inf: meant
                        frames[tuple(rng.integers(0, n) for n in frames.shape)] = rng.choice(_VALUES)
            elif kind in "iu" and rng.random() < 0.5:
                info = np.iinfo(frames.dtype)
                frames[tuple(rng.integers(0, n) for n in frames.shape)] = info.min if rng.random() < 0.5 else info.max
            shape_pick = rng.integers(0, 4)
            frames = [frames, frames[:1], frames[:, :1, :1], frames.reshape(-1)[: 8 * 40 * 64].reshape(8, 40, 64, 1)][shape_pick]
            yield from _as_files(f"{dtype}", frames)


def _as_files(label: str, frames: np.ndarray):
    """The same frames as .npy, as a foreign HDF5 dataset, and (numeric ones) inside a vibmag file."""
    import io as _io

    buffer = _io.BytesIO()
    np.save(buffer, frames)
    yield f"npy:{label}{frames.shape}", {"rec.npy": buffer.getvalue()}, "rec.npy", _RATE
    h5 = _io.BytesIO()
    with h5py.File(h5, "w") as f:
        f.create_dataset("frames", data=frames).attrs["fps"] = 150.0
    yield f"foreign_h5:{label}{frames.shape}", {"rec.h5": h5.getvalue()}, "rec.h5", {"dataset": "/frames"}
    if frames.dtype.kind in "fiub" and frames.ndim == 3:
        own = _io.BytesIO()
        with h5py.File(own, "w") as f:  # a vibmag file holding values vibmag itself would never write
            f.attrs["vibmag_file_version"] = "0"
            f.create_dataset("frames", data=frames.astype(np.float32) if frames.dtype.kind == "f" else frames)
        yield f"own_h5:{label}{frames.shape}", {"rec.h5": own.getvalue()}, "rec.h5", {}


class _CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise _CaseTimeout(f"case took more than {CASE_SECONDS} s")


def _hashes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_case(folder: Path, files: dict, main_name: str, kwargs: dict) -> str:
    """Write the case's files, open and read them; 'ok' or 'refused', else the stray exception's name."""
    for name, raw in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(raw)
    before = _hashes(folder)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        ds = vibmag.open_recording(folder / main_name, **kwargs)
        frames = np.asarray(ds["frames"].values)
        ds.close()
        assert frames.dtype == np.float32 and frames.ndim in (3, 4) and min(frames.shape[:3]) >= 1, f"bad layout {frames.shape} {frames.dtype}"
        assert np.isfinite(frames).all(), "a recording with NaN or infinite frames"
        assert ds.attrs["frame_rate"].endswith(" Hz")
        outcome = "ok"
    except VibmagError:
        outcome = "refused"
    except _CaseTimeout:
        outcome = "timeout"
    except Exception as exc:  # noqa: BLE001  (the point: nothing but VibmagError may come out)
        outcome = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if _hashes(folder) != before:
        outcome = "input changed"
    return outcome


def _run_corpus(tmp_path_factory, cases) -> Counter:
    tally, strays = Counter(), []
    for index, (label, files, main_name, kwargs) in enumerate(cases):
        folder = tmp_path_factory.mktemp("case")
        outcome = _run_case(folder, files, main_name, kwargs)
        tally["ok" if outcome == "ok" else "refused" if outcome == "refused" else "outside VibmagError"] += 1
        if outcome not in ("ok", "refused"):
            strays.append(f"{label}: {outcome}")
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    print(f"\nfuzz corpus: {sum(tally.values())} cases, {tally['ok']} opened, {tally['refused']} refused with a VibmagError, "
          f"{tally['outside VibmagError']} outside VibmagError")
    assert not strays, "cases that ended outside VibmagError:\n" + "\n".join(strays[:400])
    return tally


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    return _base_files(tmp_path_factory.mktemp("bases"))


@pytest.mark.timeout(300)
def test_damaged_files_corpus(bases, tmp_path_factory):
    tally = _run_corpus(tmp_path_factory, list(_damaged(bases, DEFAULT_PER_KIND, seed=15)))
    assert sum(tally.values()) >= 200 and tally["ok"] > 0 and tally["refused"] > 0


@pytest.mark.timeout(120)
def test_values_and_dtypes_corpus(tmp_path_factory):
    tally = _run_corpus(tmp_path_factory, list(_valued(DEFAULT_PER_KIND, seed=15)))
    assert sum(tally.values()) >= 50 and tally["ok"] > 0 and tally["refused"] > 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("seed", [1, 2])
def test_damaged_files_corpus_thousands(bases, tmp_path_factory, seed):
    tally = _run_corpus(tmp_path_factory, [*_damaged(bases, SLOW_PER_KIND, seed=seed), *_valued(SLOW_PER_KIND, seed=seed)])
    assert sum(tally.values()) >= 1000


# ======================================================================================================================
# Property-based tests over the public functions' arguments (Hypothesis): whatever the arguments, each call ends in a
# result of the documented layout or a VibmagError. Default: PROPERTY_EXAMPLES per function; ``-m slow``: many more.
# ======================================================================================================================

import warnings  # noqa: E402

from hypothesis.extra.numpy import array_shapes, arrays  # noqa: E402

from vibmag.errors import VibmagWarning  # noqa: E402
from vibmag.synthetic import Mode, vibrating_plate  # noqa: E402

PROPERTY_EXAMPLES, SLOW_PROPERTY_EXAMPLES = 40, 600
TINY = vibrating_plate((16, 16), n_frames=32, frame_rate="200 Hz", modes=[Mode("40 Hz", 0.2, shape="rigid")], speckle_size=2)
#: A longer recording's displacement for the band-pass and the spectrum (8 frames are too short to band-pass).
TINY_DISP = vibmag.estimate_displacement(vibrating_plate((16, 16), n_frames=64, frame_rate="200 Hz", modes=[Mode("40 Hz", 0.2, shape="rigid")],
                                                         speckle_size=2), progress=False)

_QUANTITY_TEXTS = ["20 Hz", "2 kHz", "1200 rpm", "-5 Hz", "0 Hz", "nan Hz", "inf Hz", "1e400 Hz", "5 mm", "", "Hz", "abc", "3",
                   "1e-300 Hz", "99 Hz", "100 Hz", "101 Hz", "30Hz", "0.05 mm", "-1 mm", "1 px", "2 s"]
quantities = st.one_of(st.sampled_from(_QUANTITY_TEXTS), st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True),
                       st.integers(-10, 1000), st.none(), st.booleans())
_specials = st.sampled_from([np.nan, np.inf, -np.inf])
coordinates = st.one_of(st.integers(-20, 40), st.floats(-20, 40), _specials)
regions = st.one_of(
    st.none(),
    st.tuples(coordinates, coordinates, coordinates, coordinates),
    st.lists(st.tuples(coordinates, coordinates), max_size=6),
    arrays(st.sampled_from([bool, np.float32, np.int8]), st.sampled_from([(16, 16), (16, 15), (4,), (16, 16, 1)]), elements=st.integers(0, 1)),
    st.text(max_size=6),
    st.integers(-3, 3),
)
def mostly(valid, *invalid, weight: int = 6):
    """``valid`` about ``weight`` times as often as each of the ``invalid`` strategies (so results get checked, not only refusals)."""
    choices = (valid, *invalid)
    return st.integers(0, weight + len(invalid) - 1).flatmap(lambda i: choices[max(0, i - weight + 1)])


rates = mostly(st.sampled_from(["200 Hz", "1 kHz", "150 Hz", "30Hz"]), quantities)
lengths = mostly(st.sampled_from([None, "0.05 mm", "2 um"]), quantities)
option_values = st.one_of(st.floats(-3, 6), _specials, st.integers(-3, 5), st.text(max_size=3), st.none(),
                          st.tuples(st.integers(-1, 4)), st.booleans())
options = st.dictionaries(st.sampled_from(["window", "presmooth", "max_motion", "levels", "iterations", "smooth_base", "damping",
                                           "tolerance", "noise_floor", "windw", "level", "sigma"]), option_values, max_size=3)


#: Outcomes of the property examples, per function: printed at the end of the module.
PROPERTY_OUTCOMES: Counter = Counter()


def result_or_vibmag_error(call, what: str):
    """``call()``'s result, or None if it raised a VibmagError (anything else fails the test); warnings allowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VibmagWarning)
        try:
            result = call()
        except VibmagError:
            PROPERTY_OUTCOMES[what, "refused"] += 1
            return None
        except Exception:
            PROPERTY_OUTCOMES[what, "outside VibmagError"] += 1
            raise
    PROPERTY_OUTCOMES[what, "result"] += 1
    return result


@pytest.fixture(scope="module", autouse=True)
def _print_property_outcomes():
    yield
    for what in sorted({w for w, _ in PROPERTY_OUTCOMES}):
        counts = {k: PROPERTY_OUTCOMES[what, k] for k in ("result", "refused", "outside VibmagError")}
        print(f"\nproperty {what}: {sum(counts.values())} examples, {counts['result']} results, {counts['refused']} VibmagError, "
              f"{counts['outside VibmagError']} outside VibmagError (shrinking included)")


def _property(strategy_kwargs: dict, body, slow: bool = False, share: float = 1.0):
    examples = SLOW_PROPERTY_EXAMPLES if slow else int(PROPERTY_EXAMPLES * share)
    test = settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(
        given(**strategy_kwargs)(body))
    test = pytest.mark.timeout(3600 if slow else 600)(test)  # a bound against hangs, far above the ~5 s a run takes on an idle machine
    return pytest.mark.slow(test) if slow else test


def _open_array(array, dtype, frame_rate, pixel_size, bit_depth):
    with np.errstate(all="ignore"):  # NaN or -1 cast to an integer dtype: whatever comes out is the test's input
        array = array.astype(dtype)
    ds = result_or_vibmag_error(lambda: vibmag.open_recording(array, frame_rate=frame_rate, pixel_size=pixel_size, bit_depth=bit_depth), "open_recording")
    if ds is not None:
        frames = ds["frames"].values
        assert frames.dtype == np.float32 and frames.shape == array.shape
        assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1 + 1e-4


_open_args = dict(
    dtype=st.sampled_from(["uint8", "uint16", "int16", "int64", "uint64", "float16", "float32", "float64", "bool", "complex64", ">u2"]),
    array=arrays(np.float64,
                 mostly(array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=4), array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4)),
                 elements=mostly(st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3), st.floats(0, 70000))),
    frame_rate=rates, pixel_size=lengths, bit_depth=mostly(st.none(), st.integers(-2, 70), st.floats(), st.text(max_size=2)),
)
test_property_open_recording = _property(_open_args, _open_array)
test_property_open_recording_slow = _property(_open_args, _open_array, slow=True)


def _estimate(reference, method, region, chunk_frames, opts):
    disp = result_or_vibmag_error(lambda: vibmag.estimate_displacement(TINY, reference=reference, method=method, region=region,
                                                                       chunk_frames=chunk_frames, progress=False, **opts), "estimate_displacement")
    if disp is not None:
        assert disp.dims == ("time", "component", "y", "x") and disp.shape == (32, 2, 16, 16) and disp.attrs["units"] == "px"
        assert not np.isinf(disp.values).any()


_estimate_args = dict(
    reference=st.one_of(st.integers(-32, 31), st.just("mean")),
    method=st.one_of(st.none(), st.sampled_from(["lucas-kanade", "LK", "farneback", "lucas_kanade"]), st.text(max_size=4)),
    region=mostly(st.none(), regions, weight=3), chunk_frames=st.integers(1, 10), opts=mostly(st.just({}), options, weight=3),
)
test_property_estimate_displacement = _property(_estimate_args, _estimate, share=0.6)  # the slowest function: fewer examples
test_property_estimate_displacement_slow = _property(_estimate_args, _estimate, slow=True)


@pytest.mark.parametrize("kwargs", [{"reference": 40}, {"reference": "last"}, {"chunk_frames": 0}, {"method": 0}],
                         ids=["reference-out-of-range", "reference-text", "chunk_frames-0", "method-number"])
def test_estimate_displacement_bad_arguments_are_vibmag_errors(kwargs):
    try:
        vibmag.estimate_displacement(TINY, progress=False, **kwargs)
    except VibmagError:
        return
    pytest.fail("accepted")


def _bandpass(low, high, order):
    out = result_or_vibmag_error(lambda: vibmag.bandpass(TINY_DISP, low, high, order=order), "bandpass")
    if out is not None:
        assert out.shape == TINY_DISP.shape and out.attrs["units"] == "px" and np.isfinite(out.values).all()


_bandpass_args = dict(low=mostly(st.sampled_from(["20 Hz", "30 Hz", "1200 rpm", "0.5 Hz"]), quantities, weight=3),
                      high=mostly(st.sampled_from(["60 Hz", "99 Hz", "50 Hz", "3000 rpm"]), quantities, weight=3),
                      order=mostly(st.integers(1, 8), st.integers(-2, 12), st.floats(allow_nan=True), st.text(max_size=2)))
test_property_bandpass = _property(_bandpass_args, _bandpass)
test_property_bandpass_slow = _property(_bandpass_args, _bandpass, slow=True)


def _spectrum(region, average):
    spec = result_or_vibmag_error(lambda: vibmag.spectrum(TINY_DISP, region=region, average=average), "spectrum")
    if spec is not None:
        assert spec.dims == ("frequency", "component") and spec.sizes["component"] == 2 and (spec.values[np.isfinite(spec.values)] >= 0).all()


_spectrum_args = dict(region=mostly(st.none(), regions, weight=2),
                      average=mostly(st.sampled_from(["amplitude", "displacement"]), st.sampled_from(["power", "", "mean"]), st.none()))
test_property_spectrum = _property(_spectrum_args, _spectrum)
test_property_spectrum_slow = _property(_spectrum_args, _spectrum, slow=True)


def _region_mask(region):
    mask = result_or_vibmag_error(lambda: vibmag.region_mask(TINY, region), "region_mask")
    if mask is not None:
        assert mask.dims == ("y", "x") and mask.shape == (16, 16)
        assert np.isfinite(mask.values).all() and mask.values.min() >= 0 and mask.values.max() <= 1


_region_args = dict(region=mostly(st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(8, 16), st.integers(8, 16)), regions, weight=2))
test_property_region_mask = _property(_region_args, _region_mask)
test_property_region_mask_slow = _property(_region_args, _region_mask, slow=True)


def _magnify(alpha, band, region, reference, chunk_frames, transition):
    out = result_or_vibmag_error(lambda: vibmag.magnify(TINY, alpha, band=band, region=region, method="lagrangian", reference=reference,
                                                        chunk_frames=chunk_frames, transition=transition), "magnify")
    if out is not None:
        frames = out["frames"].values
        assert frames.shape == (32, 16, 16) and frames.dtype == np.float32 and frames.min() >= 0 and frames.max() <= 1
        assert out.attrs["method"] == "lagrangian"


_magnify_args = dict(
    alpha=mostly(st.floats(0, 30), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 100), st.text(max_size=3), st.none(),
                 arrays(np.float64, st.sampled_from([(16, 16), (15, 16), (3,)]), elements=st.floats(-2, 50)), weight=8),
    band=mostly(st.sampled_from([None, ("30 Hz", "50 Hz"), ("20 Hz", "99 Hz")]), st.tuples(quantities, quantities), st.tuples(quantities),
                st.text(max_size=3)),
    region=mostly(st.sampled_from([None, (2, 2, 14, 14), [(0, 0), (0, 15), (15, 8)]]), regions),
    reference=mostly(st.integers(-32, 31), st.integers(-40, 40), st.floats(allow_nan=True), st.text(max_size=2)),
    chunk_frames=mostly(st.integers(1, 9), st.integers(-1, 0)),
    transition=mostly(st.floats(0, 20), st.floats(-5, 50), _specials, st.integers(-3, 20)),
)
test_property_magnify_lagrangian = _property(_magnify_args, _magnify)
test_property_magnify_lagrangian_slow = _property(_magnify_args, _magnify, slow=True)
