"""Batch processing of HDF5 recordings on a Dask cluster, into one resumable results file.

``vibmag batch`` and :func:`run` take HDF5 files, folders or globs of them and,
for every recording, store in one results file (a group per recording):
the displacement summary (RMS and peak-to-peak maps), the spectrum and
waveform of each region (default: the whole frame), the peak table, and
optionally the operating deflection shape at each peak; optionally a PNG of
the spectrum and an MP4 with the dominant band magnified go beside it.

* :mod:`~vibmag.batch.settings`: the settings file (TOML or YAML), validated.
* :mod:`~vibmag.batch.inputs`: input files and the recordings in them.
* :mod:`~vibmag.batch.tasks`: the work on one recording, as functions workers run.
* :mod:`~vibmag.batch.store`: the results file, written atomically by the client only.
* :mod:`~vibmag.batch.runner`: the client that wires these over ``dask.distributed``.

See docs/batch.md for a run end to end and for multi-machine clusters.
"""

from .inputs import Recording, expand_inputs
from .runner import BatchReport, Outcome, as_settings, process_recording, run
from .settings import BatchSettings, SettingsError, load_settings, parse_settings
from .store import BatchError, read_results_table
from .tasks import RecordingResult, region_summary

__all__ = [
    "run",
    "process_recording",
    "BatchReport",
    "Outcome",
    "BatchSettings",
    "load_settings",
    "parse_settings",
    "as_settings",
    "SettingsError",
    "BatchError",
    "read_results_table",
    "region_summary",
    "RecordingResult",
    "Recording",
    "expand_inputs",
]
