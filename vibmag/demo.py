"""The README's main job: measure and magnify the vibration of the shipped real beam recording.

``vibmag demo`` (or :func:`run_demo`) runs the whole chain on
``sample_data`` ``"showcase_beams"`` (two beams filmed side-on by a Photron
camera, 75 frames at 150 Hz) and writes into an output folder:

* ``recording.txt``: what ``vibmag info`` prints for the recording, then the
  peak table and the band chosen;
* ``spectrum.png``: the amplitude spectrum of the measured displacement with
  its peaks marked, and the displacement waveform;
* ``magnified.mp4``: the original (top) and the recording with only the
  dominant band magnified (bottom), labelled with alpha and band, with time
  stamps in the recording's own time.

It takes about a minute on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

from .analysis.spectra import SNR_MIN, resolved_peaks
from .io.outputs import check_output, check_output_folder, refuse_existing
from .pipeline import dominant_band, peak_table, plot_survey, survey, write_magnified_clip
from .recording import describe_recording
from .sample_data import open_sample
from .units import frequency_hz

__all__ = ["run_demo", "DEMO_SAMPLE", "DEMO_ALPHA"]

#: The shipped recording the demo runs on (see :mod:`vibmag.sample_data`).
DEMO_SAMPLE = "showcase_beams"
#: Magnification of the dominant band: its ~0.05 px become ~1 px.
DEMO_ALPHA = 20.0
_OUTPUTS = ("recording.txt", "spectrum.png", "magnified.mp4")


def run_demo(output: str | Path = "vibmag-demo", *, overwrite: bool = False, method: str = "flowmag",
             alpha: float = DEMO_ALPHA, progress=None) -> list[Path]:
    """Run the demo; return the paths written.

    Parameters
    ----------
    output : path-like
        Folder for the outputs (created if missing).
    overwrite : bool
        Replace the outputs of an earlier run.
    method : str
        Magnification method (see :func:`vibmag.magnify`).
    alpha : float
        Magnification of the dominant band.
    progress : callable, optional
        ``progress(done, total)`` of the magnification.

    Raises
    ------
    OverwriteError
        If an output exists and ``overwrite`` is False, or exists and is not
        a file of the kind written there (checked before any work).
    OutputError
        If ``output`` is a file, or cannot be made (not writable).
    """
    output = Path(output)
    targets = {name: output / name for name in _OUTPUTS}
    refuse_existing(targets.values(), overwrite)
    check_output_folder(output, what="demo's output folder")
    for target in targets.values():  # every refusal before any work: nothing half-written
        if output.is_dir():
            check_output(target, suffixes=(target.suffix,), overwrite=overwrite)
    output.mkdir(parents=True, exist_ok=True)

    ds = open_sample(DEMO_SAMPLE)
    summary = survey(ds, progress=False)
    band = dominant_band(summary)
    band_hz = tuple(frequency_hz(edge) for edge in band)
    plot_survey(summary, targets["spectrum.png"], band=band,
                title=f"{DEMO_SAMPLE}: displacement spectrum (band magnified: {band_hz[0]:.4g} - {band_hz[1]:.4g} Hz)")
    targets["recording.txt"].write_text(_report(describe_recording(ds), peak_table(summary), band, alpha, method))
    write_magnified_clip(ds, targets["magnified.mp4"], alpha, band_hz=band_hz, method=method,
                         stack="vertical", zoom=2, fps=15, overwrite=overwrite, progress=progress)
    return list(targets.values())


def _peak_flag(snr: float, resolved: bool, peaks) -> str:
    """What recording.txt says after a peak: within the noise, or too few periods in the record to be a vibration."""
    if not resolved:
        return f"  (under {peaks['cycles'].attrs['min_cycles']:g} periods in the record: a drift or step, not a vibration)"
    return "" if snr >= SNR_MIN else "  (within the noise)"


def _report(description: str, peaks, band: tuple[str, str], alpha: float, method: str) -> str:
    """recording.txt: the recording, its peaks (region-mean amplitude per component, SNR where known) and what was magnified."""
    snr = peaks["snr"].values if "snr" in peaks else [float("nan")] * peaks.sizes["peak"]
    rows = [f"{f:10.3f} Hz {a[0]:9.4f} px {a[1]:9.4f} px   SNR {s:5.1f}" + _peak_flag(s, ok, peaks)
            for f, a, s, ok in zip(peaks["frequency"].values, peaks["amplitude"].values, snr, resolved_peaks(peaks))]
    low, high = (frequency_hz(edge) for edge in band)
    return "\n".join([description, "", "peaks of the displacement spectrum (frequency, amplitude x, amplitude y, SNR):",
                      *rows, "", f"magnified: {low:.4g} Hz - {high:.4g} Hz by {method}, alpha {alpha:g}", ""])
