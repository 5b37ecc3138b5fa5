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
