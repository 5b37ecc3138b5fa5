"""The batch client: finds the recordings, submits their tasks to Dask, stores results as they come.

Only this process writes the results file (:mod:`vibmag.batch.store`);
workers open the input files themselves and return results. Per recording
the task graph is::

    tile_summary(tile) ... ──> combine ──> [magnified_clip] ──> finish
    (with deflection shapes: tile_displacement ──> tile_reduce ──> combine,
     and tile_displacement + combine ──> tile_shapes ──> finish)

A worker that dies mid-task is replaced (by its nanny on a LocalCluster) and
its tasks, and any results it held, are recomputed elsewhere by the
scheduler. A task that raises is rerun ``parallel.retries`` times; then its
recording is recorded as failed and the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.util
import logging
import os
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecordingError
from ..files import atomic_path
from .display import BatchDisplay
from .inputs import Recording, RecordingProblem, expand_inputs, file_names, inspect_file, inspect_task
from .reports import write_reports
from .settings import BatchSettings, load_settings, parse_settings
from .store import BatchError, ResultsStore, check_results_file
from .tasks import combine, failure_dataset, finish, magnified_clip, make_job, run_job, tile_displacement, tile_reduce, tile_shapes, tile_summary

__all__ = ["run", "process_recording", "BatchReport", "Outcome"]

logger = logging.getLogger("vibmag.batch")
STATUSES = ("complete", "skipped", "failed", "stale")


@dataclass
class Outcome:
    """What became of one recording in a batch run."""

    recording: str
    status: str  # "complete" (computed now), "skipped" (already complete), "failed", "stale" (complete with other settings)
    source: str = ""
    dataset: str = ""
    seconds: float | None = None
    message: str = ""


@dataclass
class BatchReport:
    """The outcome of :func:`run`: one :class:`Outcome` per recording, in input order."""

    output: Path
    log_file: Path
    outcomes: list = field(default_factory=list)
    seconds: float = 0.0
    index: Path | None = None  # the index page of the reports (``report_dir``), if any

    @property
    def counts(self) -> dict:
        return {status: sum(o.status == status for o in self.outcomes) for status in STATUSES}

    @property
    def ok(self) -> bool:
        """True when every recording is complete in the results file (computed now or before)."""
        return all(o.status in ("complete", "skipped") for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when all recordings are complete, 1 when any failed or is stale."""
        return 0 if self.ok else 1

    def __getitem__(self, name: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.recording == name:
                return outcome
        raise KeyError(name)

    def table(self) -> str:
        """The summary table: recording, status, compute seconds, and the top peak or the error."""
        rows = [("recording", "status", "seconds", "result")]
        rows += [(o.recording, o.status, "" if o.seconds is None else f"{o.seconds:.1f}", o.message) for o in self.outcomes]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 6)
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items() if n)
        lines.append(f"{len(self.outcomes)} recordings: {counts or 'none'} in {self.seconds:.1f} s; results in {self.output}")
        return "\n".join(line.rstrip() for line in lines)


def run(
    inputs,
    output,
    *,
    settings=None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    log_file=None,
    report_dir=None,
) -> BatchReport:
    """Process HDF5 recordings on a Dask cluster into one results file; resumable.

    Parameters
    ----------
    inputs : path, glob or folder, or a sequence of them
        HDF5 files (``.h5``/``.hdf5``); a folder stands for its HDF5 files.
    output : path-like
        The results file (``.h5``), one group per recording; created or
        extended. Recordings already complete in it are skipped.
    settings : BatchSettings, mapping, or path of a TOML/YAML file, optional
        See :mod:`vibmag.batch.settings`; default: the defaults.
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://10.0.0.5:8786"``); its
        workers must reach the input files under the same paths. Default: a
        LocalCluster of ``n_workers`` single-threaded worker processes.
    n_workers : int, optional
        Workers of the LocalCluster (default: one per CPU core).
    overwrite : bool
        Recompute recordings already complete in ``output``.
    progress : bool, optional
        Progress bars on stderr (default: when it is a terminal).
    log_file : path-like, optional
        Log of the run, appended to (default: ``output`` with suffix ``.log``).
    report_dir : path-like, optional
        Also write an inspection report (:func:`vibmag.report`) per complete
        recording into this folder, and ``index.html`` listing them with their
        dominant peaks and status (:mod:`vibmag.batch.reports`).

    Returns
    -------
    BatchReport
        Per recording: complete, skipped, failed (with its error) or stale
        (complete in ``output`` from other settings or another input; rerun
        with ``overwrite=True`` to recompute); ``exit_code`` 0 when all are complete.

    Raises
    ------
    SettingsError
        Invalid settings or inputs (nothing is run).
    BatchError
        The results file is locked by another batch, or the scheduler is unreachable.
    """
    start = time.perf_counter()
    settings = as_settings(settings)
    output = check_results_file(Path(output).resolve())  # before the log file or anything else is written
    files = expand_inputs(inputs, exclude=[output])
    log_path = Path(log_file).resolve() if log_file is not None else output.with_suffix(".log")
    with _logging_to(log_path):
        logger.info("batch of %d files into %s (settings %s, digest %s)", len(files), output, settings.source, settings.digest())
        display = BatchDisplay(progress, slots=n_workers or 4)
        try:
            with ResultsStore(output) as store, _connect(scheduler, n_workers) as client:
                outcomes = _Batch(client, store, settings, overwrite, display).run(files)
        finally:
            display.close()
        report = BatchReport(output, log_path, outcomes, time.perf_counter() - start)
        logger.info("summary\n%s", report.table())
        if report_dir is not None:
            report.index = write_reports(outcomes, report_dir, settings, overwrite=overwrite)
            logger.info("reports listed in %s", report.index)
    return report


def as_settings(settings) -> BatchSettings:
    """Settings from a BatchSettings, a mapping, a TOML/YAML path, or None (defaults)."""
    if settings is None:
        return parse_settings({})
    if isinstance(settings, BatchSettings):
        return settings
    if isinstance(settings, (str, os.PathLike)):
        return load_settings(settings)
    return parse_settings(settings)


def process_recording(path, *, dataset: str | None = None, settings=None, name: str | None = None):
    """Process one recording in this process, exactly as a batch's workers do; no Dask.

    Returns the :class:`~vibmag.batch.tasks.RecordingResult` (its ``dataset``
    is what the batch stores in the recording's group, less the ``run_*``
    attrs). ``dataset`` picks one recording of a file holding several.
    """
    settings = as_settings(settings)
    path = Path(path).resolve()
    found = inspect_file(str(path), name or file_names([path])[path], settings.input)
    if dataset is not None:
        found = [item for item in found if (item.dataset or "").strip("/") == dataset.strip("/")]
    if len(found) != 1:
        options = ", ".join(str(item.dataset) for item in found) or "none"
        raise BatchError(f"{path}: pass dataset= to choose one recording (found: {options})")
    if isinstance(found[0], RecordingProblem):
        raise RecordingError(found[0].error)
    return run_job(make_job(found[0], settings))


@contextlib.contextmanager
def _logging_to(path: Path):
    """Log vibmag.batch at INFO into ``path``; to the root handlers only if the root logs INFO."""
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = logging.getLogger().isEnabledFor(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.level, logger.propagate = saved


@contextlib.contextmanager
def _quiet(name: str, level: int):
    """Raise the level of logger ``name`` to at least ``level`` for a while."""
    target = logging.getLogger(name)
    saved = target.level
    target.setLevel(max(level, target.getEffectiveLevel()))
    try:
        yield
    finally:
        target.setLevel(saved)


@contextlib.contextmanager
def _connect(scheduler: str | None, n_workers: int | None):
    """A Dask client of the scheduler at ``scheduler``, or of a new LocalCluster."""
    try:  # imported here: dask.distributed is the optional extra vibmag[dask]
        from distributed import Client, LocalCluster
    except ImportError:
        raise BatchError("vibmag batch runs on dask.distributed: pip install 'vibmag[dask]'") from None

    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    with _quiet("distributed", logging.INFO if verbose else logging.WARNING):  # its INFO lines would drown the progress
        yield from _clients(scheduler, n_workers, Client, LocalCluster)


def _clients(scheduler, n_workers, Client, LocalCluster):
    if scheduler is not None:
        if n_workers is not None:
            raise BatchError("give either a scheduler address (a running cluster) or a number of workers (a local one), not both")
        try:
            client = Client(scheduler, set_as_default=False)
        except OSError as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        logger.info("connected to the scheduler at %s (%d workers)", scheduler, len(client.scheduler_info()["workers"]))
        with client:
            yield client
        return
    n_workers = n_workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        logger.info("started a LocalCluster of %d worker processes (%s)", n_workers, cluster.dashboard_link if _has_bokeh() else "no dashboard: install bokeh")
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        # workers still finalising their interpreter after 4 s are killed by their nanny: expected, all results are in
        with _quiet("distributed.nanny", logging.ERROR):
            cluster.close()


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


@dataclass
class _Submitted:
    """A recording whose tasks are running: its job, all its futures, and the final one."""

    recording: Recording
    futures: list
    final: object
    order: int


class _Batch:
    """One run of a batch: the client's event loop over inspection and recording tasks."""

    def __init__(self, client, store: ResultsStore, settings: BatchSettings, overwrite: bool, display: BatchDisplay):
        self.client, self.store, self.settings, self.overwrite, self.display = client, store, settings, overwrite, display
        self.token = uuid.uuid4().hex[:8]
        self.existing = store.statuses()
        self.outcomes: dict[tuple, Outcome] = {}  # (file order, index in file) -> outcome
        self.running: dict[str, _Submitted] = {}
        self.owner: dict[str, str] = {}  # future key -> recording name
        self.names: dict[str, tuple] = {}  # recording name -> (path, dataset), to keep names unique
        self.files_dir = None

    def run(self, files: list[Path]) -> list[Outcome]:
        from distributed import as_completed  # the optional extra vibmag[dask]; _connect has checked it is installed

        bases = file_names(files)
        pending = as_completed(loop=self.client.loop)
        inspections = {}
        for order, path in enumerate(files):
            future = self.client.submit(inspect_task, str(path), bases[path], self.settings.input, key=f"inspect-{bases[path]}-{self.token}",
                                        priority=len(files) - order, retries=self.settings.parallel.retries, pure=False)
            inspections[future.key] = (order, path, bases[path])
            pending.add(future)
        self.display.expect(len(files))
        for future in pending:
            if future.key in inspections:
                self._inspected(future, *inspections.pop(future.key), pending)
            else:
                self._task_done(future)
            self.store.maybe_merge()
        return [self.outcomes[key] for key in sorted(self.outcomes)]

    # ------------------------------------------------------------------ inspection

    def _inspected(self, future, order: int, path: Path, base: str, pending) -> None:
        if future.status != "finished":
            self._failed((order, 0), base, str(path), None, *_error_of(future))
            return
        found = future.result()
        self.display.expect(len(found) - 1)
        for index, item in enumerate(found):
            item = self._unique(item)
            if isinstance(item, RecordingProblem):
                self._failed((order, index), item.name, item.path, item.dataset, item.error)
            else:
                self._consider((order, index), item, pending)

    def _unique(self, item):
        """The item, renamed if another input already took its name (stable: a hash of path and dataset)."""
        key = (item.path, item.dataset)
        if self.names.setdefault(item.name, key) == key:
            return item
        digest = hashlib.sha1(f"{item.path}:{item.dataset}".encode()).hexdigest()[:6]
        item = dataclasses.replace(item, name=f"{item.name}-{digest}")
        self.names[item.name] = key
        return item

    def _consider(self, key: tuple, rec: Recording, pending) -> None:
        """Skip a recording complete in the results, flag it stale, or submit its tasks."""
        before = self.existing.get(rec.name)
        if before is not None and before.get("status") == "complete" and not self.overwrite:
            same = before.get("settings_digest") == self.settings.digest() and before.get("input") == rec.identity()
            if same:
                self._outcome(key, Outcome(rec.name, "skipped", rec.path, rec.dataset or "", None, "complete in the results file"))
            else:
                why = "other settings" if before.get("settings_digest") != self.settings.digest() else "a changed input file"
                self._outcome(key, Outcome(rec.name, "stale", rec.path, rec.dataset or "", None,
                                           f"complete in the results file from {why}; kept (pass overwrite to recompute)"))
            return
        self._submit(key, rec, pending)

    # ------------------------------------------------------------------ recordings

    def _submit(self, key: tuple, rec: Recording, pending) -> None:
        job = make_job(rec, self.settings)
        ods = self.settings.analysis.deflection_shapes
        options = dict(priority=-1000 * key[0] - key[1], retries=self.settings.parallel.retries, pure=False)

        def submit(function, *args, step: str):
            return self.client.submit(function, *args, key=f"{step}-{rec.name}-{self.token}", **options)

        if ods:
            displacements = [submit(tile_displacement, job, tile, step=f"displacement{tile.index}") for tile in job.tiles]
            reductions = [submit(tile_reduce, job, tile, disp, step=f"reduce{tile.index}") for tile, disp in zip(job.tiles, displacements)]
        else:
            displacements = []
            reductions = [submit(tile_summary, job, tile, step=f"tile{tile.index}") for tile in job.tiles]
        summary = submit(combine, job, *reductions, step="combine")
        clip = submit(magnified_clip, job, summary, step="clip") if self.settings.magnify.enabled else None
        shapes = [submit(tile_shapes, job, tile, disp, summary, step=f"shapes{tile.index}") for tile, disp in zip(job.tiles, displacements)]
        final = submit(finish, job, summary, clip, *shapes, step="finish")
        futures = [*displacements, *reductions, summary, *([clip] if clip is not None else []), *shapes, final]
        self.running[rec.name] = _Submitted(rec, futures, final, key)
        for future in futures:
            self.owner[future.key] = rec.name
            pending.add(future)
        self.display.submitted(rec.name, len(futures))
        logger.info("submitted %s (%s%s): %d tiles, %d tasks", rec.name, rec.path, f" {rec.dataset}" if rec.dataset else "", len(job.tiles), len(futures))

    def _task_done(self, future) -> None:
        name = self.owner.pop(future.key, None)
        submitted = self.running.get(name)
        if submitted is None:
            return  # a task of a recording already finished (failed early)
        self.display.step(name)
        if future.status == "finished" and future.key != submitted.final.key:
            return  # an intermediate task; a failed one fails its recording at once
        del self.running[name]  # drop the futures: workers free what they held for this recording
        rec = submitted.recording
        if future.status == "finished":
            self._store_result(submitted.order, rec, future.result())
        else:
            self._failed(submitted.order, rec.name, rec.path, rec.dataset, *_error_of(future))
        for other in submitted.futures:
            self.owner.pop(other.key, None)

    def _store_result(self, key: tuple, rec: Recording, result) -> None:
        """Write the files beside the results, then the recording's group (the group marks it complete)."""
        written = []
        for file_name, data in result.files.values():
            written.append(_write_atomically(self._files_dir() / file_name, data))
        dataset = result.dataset
        dataset.attrs.update(run_id=self.token, run_completed=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        self.store.put(rec.name, dataset)
        peaks = dataset["peak_frequency"].isel(region=0).values
        message = f"top peak {peaks[0]:.5g} Hz" if peaks.size and peaks[0] == peaks[0] else "no peak found"
        if dataset.attrs.get("clip_note"):
            message += f"; {dataset.attrs['clip_note']}"
        seconds = float(dataset.attrs.get("run_compute_seconds", 0.0))
        self._outcome(key, Outcome(rec.name, "complete", rec.path, rec.dataset or "", seconds, message))
        for path in written:
            logger.info("wrote %s", path)

    def _files_dir(self) -> Path:
        if self.files_dir is None:
            folder = self.settings.output.files or f"{self.store.path.stem}_files"
            self.files_dir = (self.store.path.parent / folder).resolve()
            self.files_dir.mkdir(parents=True, exist_ok=True)
        return self.files_dir

    def _failed(self, key: tuple, name: str, path: str, dataset, error, trace=None) -> None:
        """Record a failed recording (unless that would replace a complete result, kept unless overwriting)."""
        text = "".join(traceback.format_tb(trace)) if trace is not None and not isinstance(trace, str) else (trace or "")
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        logger.error("%s failed: %s%s", name, message, f"\n{text}" if text else "")
        before = self.existing.get(name)
        if before is not None and before.get("status") == "complete" and not self.overwrite:
            logger.warning("%s: keeping its complete result from an earlier run", name)
        else:
            self.store.put(name, failure_dataset(name, path, dataset, self.settings, message, text))
        self._outcome(key, Outcome(name, "failed", path, dataset or "", None, message))

    def _outcome(self, key: tuple, outcome: Outcome) -> None:
        self.outcomes[key] = outcome
        if outcome.status == "complete":
            logger.info("%s complete in %.1f s: %s", outcome.recording, outcome.seconds or 0.0, outcome.message)
        elif outcome.status != "failed":
            logger.info("%s %s: %s", outcome.recording, outcome.status, outcome.message)
        mark = {"complete": "ok     ", "skipped": "skipped", "failed": "FAILED ", "stale": "stale  "}[outcome.status]
        self.display.finished(outcome.recording, f"{mark} {outcome.recording}  {outcome.message}")


def _error_of(future) -> tuple:
    """``(exception or message, traceback)`` of a future that did not finish."""
    if future.status == "cancelled":
        return "CancelledError: the task was cancelled (the scheduler restarted or lost this client)", None
    return future.exception(), future.traceback()


def _write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
