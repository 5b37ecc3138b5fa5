"""Batch throughput on Dask: recordings per minute with 1 and 2 workers, and each worker's memory.

Usage: python benchmarks/batch.py [--recordings 8] [--frames 500] [--size 256] [--workers 1 2] [--uncertainty on off]

Writes ``--recordings`` synthetic plates (each with its own mode frequency) of
``--frames`` frames at ``--size`` x ``--size`` px as foreign HDF5 files
(12-bit ``/cam0/frames``, rate in an attribute), then, for each worker count,
starts a LocalCluster of single-threaded worker processes, imports vibmag in
the workers (so startup is not counted; it is reported apart), and times
``vibmag.batch.run`` over all files into a fresh results file: the
displacement summary, the whole-frame spectrum, 5 peaks and the operating
deflection shape at each; with the error parts (``analysis.uncertainty``,
the default) and, for 1 worker, without them. Peak RSS is each worker process's maximum resident
memory over the run (``VmHWM`` in ``/proc/self/status``: metrics.peak_rss_mib), Python, torch and
dask included. CPU
time (workers and client) per recording, and the CPU the machine's other
processes took meanwhile, say how far the machine was shared.
Writes the table into docs/benchmarks.md (section "Batch processing").
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from metrics import peak_rss_mib
from report import machine_line, markdown_table, update_section

from vibmag import batch
from vibmag.synthetic import Mode, vibrating_plate

SETTINGS = {"input": {"dataset": "/cam0/frames"}, "analysis": {"n_peaks": 5, "deflection_shapes": True}}


def write_recordings(folder: Path, count: int, frames: int, size: int) -> list[Path]:
    """``count`` plates, mode frequencies spread over 20-180 Hz at 1 kHz, as 12-bit foreign HDF5 files."""
    paths = []
    for index in range(count):
        hz = 20.0 + 160.0 * index / max(count - 1, 1)
        ds = vibrating_plate((size, size), n_frames=frames, frame_rate="1 kHz", supersample=1, seed=index, noise=1 / 4095,
                             modes=[Mode(f"{hz:.6g} Hz", 0.3, shape="bending", direction=90)])
        path = folder / f"plate{index:02d}.h5"
        with h5py.File(path, "w") as f:
            counts = np.round(np.clip(ds["frames"].values, 0, 1) * 4095).astype(np.uint16)
            data = f.create_dataset("cam0/frames", data=counts, chunks=(16, size, size))
            data.attrs["frame_rate"] = 1000.0
            data.attrs["bit_depth"] = 12
        paths.append(path)
    return paths


def _warm() -> int:
    import vibmag.batch.tasks  # noqa: F401
    import vibmag.flow  # noqa: F401

    return os.getpid()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def measure(files: list[Path], workers: int, folder: Path, uncertainty: bool = True) -> dict:
    """One batch run over ``files`` on a fresh LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.run(_warm)
        started = time.perf_counter() - start
        out = folder / f"results_{workers}w_{uncertainty}.h5"
        settings = {**SETTINGS, "analysis": {**SETTINGS["analysis"], "uncertainty": uncertainty}}
        cpu = sum(client.run(_cpu_seconds).values()) + _cpu_seconds()
        busy = _busy_seconds()
        begin = time.perf_counter()
        report = batch.run(files, out, settings=settings, scheduler=cluster.scheduler_address, progress=False)
        seconds = time.perf_counter() - begin
        busy = _busy_seconds() - busy
        cpu = sum(client.run(_cpu_seconds).values()) + _cpu_seconds() - cpu
        rss = sorted(client.run(peak_rss_mib).values())
    if not report.ok:
        raise RuntimeError(f"the batch failed:\n{report.table()}")
    return dict(workers=workers, uncertainty=uncertainty, seconds=seconds, per_minute=60.0 * len(files) / seconds, cpu=cpu / len(files),
                rss=rss, startup=started, others=max(busy - cpu, 0.0) / seconds)


def _cost_of_parts(results: list[dict]) -> str:
    """A sentence on what the error parts cost with one worker, from the run's rows with and without them."""
    one = {r["uncertainty"]: r for r in results if r["workers"] == min(x["workers"] for x in results)}
    if len(one) < 2:
        return ""
    on, off = one[True], one[False]
    return (f"\nThe error parts cost {on['cpu'] / off['cpu']:.2f}x the CPU ({on['cpu']:.1f} s against {off['cpu']:.1f} s per "
            f"recording, the same run) and {max(on['rss']) / max(off['rss']):.2f}x the peak memory per worker "
            f"({max(on['rss']):.0f} against {max(off['rss']):.0f} MiB); `analysis.uncertainty = false` gives them up, "
            f"and the peak table's floor is then the spectrum's own. Compare rows of one run: this shared machine's "
            f"speed varies by up to 2x from run to run.\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--uncertainty", nargs="+", choices=["on", "off"], default=["on", "off"],
                        help="with the error parts for every worker count, without them for 1 worker")
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="vibmag-batch-bench-"))
    try:
        start = time.perf_counter()
        files = write_recordings(folder, args.recordings, args.frames, args.size)
        print(f"wrote {len(files)} recordings in {time.perf_counter() - start:.1f} s", flush=True)
        rows, results = [], []
        runs = [(workers, True) for workers in args.workers if "on" in args.uncertainty]
        runs += [(min(args.workers), False)] if "off" in args.uncertainty else []
        for workers, uncertainty in runs:
            result = measure(files, workers, folder, uncertainty)
            print(result, flush=True)
            results.append(result)
            rows.append([result["workers"], "yes" if uncertainty else "no", result["seconds"], result["per_minute"], result["cpu"],
                         " / ".join(f"{m:.0f}" for m in result["rss"]), result["startup"], result["others"]])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table = markdown_table(["workers", "error parts", "wall time (s)", "recordings / min", "CPU per recording (s)",
                            "peak RSS per worker (MiB)", "cluster start (s)", "other processes' CPU (cores)"], rows)
    body = f"""Command: `python benchmarks/batch.py --recordings {args.recordings} --frames {args.frames} --size {args.size} --workers {' '.join(map(str, args.workers))} --uncertainty {' '.join(args.uncertainty)}`. Machine: {machine_line()}, {os.cpu_count()} CPU cores; each worker is one process with one thread (one torch thread).

{args.recordings} synthetic plates of {args.frames} frames at {args.size} x {args.size} px (12-bit HDF5, {args.frames * args.size * args.size * 2 / 2**20:.0f} MiB each), one vibration mode each. Per recording: displacement (Lucas-Kanade, the default), RMS and peak-to-peak maps, whole-frame spectrum, 5 peaks, and the operating deflection shape at each peak, stored in one results file; "error parts": measured with the displacement's noise and model error (`analysis.uncertainty`, the default), so the peaks' noise floor, SNR and sigma are the measurement's own, or not (floor read off the spectrum). Wall time is `vibmag.batch.run` on a LocalCluster already started, its workers having imported vibmag (cluster start, shown apart, is paid once per batch). CPU per recording is the CPU time of the workers and the client over the run, per recording. The last column is the CPU the machine's other processes used meanwhile (from `/proc/stat`, in cores): this machine is shared, and with {os.cpu_count()} cores a second worker only helps as far as a core is free.

{table}
{_cost_of_parts(results)}
To run the same batch on several machines, start a scheduler and workers there and pass `--scheduler`; see [docs/batch.md](batch.md#on-a-multi-machine-dask-cluster).
"""
    print(body)
    if not args.no_doc:
        print(f"updated {update_section('Batch processing', body)}")


if __name__ == "__main__":
    main()
