"""The classical magnifiers checked against published behaviour and an independent implementation.

vibmag's linear Eulerian (Wu et al. 2012) and Riesz-phase (Wadhwa et al. 2014)
magnifiers are vibmag's own code, as are the benchmarks that score them. This
script checks them where the answer is known without vibmag:

* Published behaviour on a moving sinusoidal grating, the scene both papers
  analyse. ``I(x, t) = 0.5 + 0.25 cos(2 pi (x - delta(t)) / lambda)``, with
  delta(t) a sinusoid of amplitude ``delta0``; the exact magnified video is the
  same grating moved by ``alpha delta(t)``. The output's motion is read from
  the phase of its fundamental (the projection of each frame on
  ``exp(2 pi i x / lambda)`` over whole periods), which needs no flow
  estimator. Wu et al. (2012, section 3.2) show that the linear method's
  first-order approximation holds while ``(1 + alpha) delta < lambda / 8``
  and then overshoots and distorts; Wadhwa et al. (2013, section 4; the
  Riesz pyramid of 2014 inherits it) show that the phase method magnifies
  exactly until ``alpha delta`` reaches about ``lambda / 4`` for octave-band
  filters (the phase of a band wraps beyond that), "about four times" the
  linear range. Reported: the gain (measured output motion / (alpha delta))
  and the RMS error against the exact render, over ``alpha delta / lambda``.
* An independent implementation: the linear Eulerian magnifier of the
  ``eulerian-magnification`` package (PyPI, Laplacian pyramid by OpenCV
  ``pyrDown``/``pyrUp``), driven with its pyramid functions and the same
  reference-frame change as vibmag's (its own temporal filter is not used: it
  applies an FFT mask to ``scipy.fftpack.rfft``'s packed layout with
  ``fftfreq`` indices, which selects other frequencies than asked). Its gain
  and error are listed beside vibmag's with Wu's wavelength attenuation off.

Run from the repository root (about 20 s; ``eulerian-magnification`` and
OpenCV are benchmark-only dependencies, installed by ``make bench``)::

    python benchmarks/classical_baselines.py            # writes its section of docs/benchmarks.md
    python benchmarks/classical_baselines.py --no-write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine_line, markdown_table, update_section  # noqa: E402

from vibmag.magnification.classical import linear_magnify, phase_magnify  # noqa: E402

HEADING = "Classical magnifiers against published behaviour (issue 13)"
WAVELENGTHS = (16.0, 32.0)
DELTA0 = 0.25  # px, the input motion's amplitude
RATIOS = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8)  # alpha delta0 / lambda
N_FRAMES = 16
HEIGHT, WIDTH, MARGIN = 128, 320, 32  # 5 pyramid levels in both implementations


def grating(wavelength: float, displacement: np.ndarray) -> np.ndarray:
    """(T, H, W) float32 frames of a vertical cosine grating moved by ``displacement`` (T,) px along x."""
    x = np.arange(WIDTH, dtype=np.float64)
    rows = 0.5 + 0.25 * np.cos(2 * np.pi * (x[None, :] - displacement[:, None]) / wavelength)
    return np.repeat(rows[:, None, :], HEIGHT, axis=1).astype(np.float32)


def input_motion() -> np.ndarray:
    """delta(t), (T,) px: one period of a sinusoid, 0 at the reference frame 0."""
    return DELTA0 * np.sin(2 * np.pi * np.arange(N_FRAMES) / N_FRAMES)


def measured_motion(frames: np.ndarray, wavelength: float) -> np.ndarray:
    """(T,) px motion of the grating's fundamental relative to frame 0, from its phase over whole periods."""
    periods = int((WIDTH - 2 * MARGIN) // wavelength)
    x = np.arange(MARGIN, MARGIN + int(periods * wavelength))
    profile = frames[:, :, x].mean(axis=1)
    phase = np.angle((profile * np.exp(-2j * np.pi * x / wavelength)).sum(axis=1))
    phase = np.unwrap(phase - phase[0])
    return -phase * wavelength / (2 * np.pi)


def gain(out: np.ndarray, wavelength: float, target: np.ndarray) -> float:
    """Least-squares gain of the measured output motion on the exact magnified motion ``target`` (T,)."""
    motion = measured_motion(out, wavelength)
    return float(np.dot(motion, target) / np.dot(target, target))


def render_error(out: np.ndarray, exact: np.ndarray) -> float:
    """RMS intensity error in the interior, over frames 1.., against the exact magnified render."""
    inner = np.s_[1:, :, MARGIN:-MARGIN]
    return float(np.sqrt(np.mean((out[inner] - exact[inner]) ** 2)))


def independent_linear(frames: np.ndarray, alpha: float) -> np.ndarray:
    """Linear Eulerian magnification by the ``eulerian-magnification`` package's Laplacian pyramid.

    Every band but the Gaussian residual gets ``(alpha - 1)`` times its change from frame 0, as
    vibmag's does without wavelength attenuation; returns (T, H, W) float32.
    """
    from eulerian_magnification.pyramid import collapse_laplacian_video_pyramid, create_laplacian_video_pyramid

    levels = 5
    colour = np.repeat(frames[..., None].astype(np.float64), 3, axis=-1)  # the package takes (T, H, W, 3)
    pyramid = create_laplacian_video_pyramid(colour, pyramid_levels=levels)
    for band in pyramid[:-1]:
        band += (alpha - 1.0) * (band - band[:1])
    return np.asarray(collapse_laplacian_video_pyramid(pyramid)[..., 0], dtype=np.float32)


def methods(include_independent: bool) -> dict:
    """name -> callable(frames (T, H, W) float32, alpha) -> magnified (T, H, W)."""
    table = {
        "vibmag phase (Riesz)": lambda f, a: phase_magnify(torch.from_numpy(f), a).numpy(),
        "vibmag linear": lambda f, a: linear_magnify(torch.from_numpy(f), a).numpy(),
        "vibmag linear, no attenuation": lambda f, a: linear_magnify(torch.from_numpy(f), a,
                                                                    cutoff_wavelength=1e-9).numpy(),
    }
    if include_independent:
        table["eulerian-magnification linear"] = independent_linear
    return table


def run(include_independent: bool) -> list[dict]:
    """One row per (wavelength, alpha delta0 / lambda, method): gain and render error."""
    delta = input_motion()
    rows = []
    for wavelength in WAVELENGTHS:
        frames = grating(wavelength, delta)
        for ratio in RATIOS:
            alpha = ratio * wavelength / DELTA0
            exact = grating(wavelength, alpha * delta)
            for name, magnify in methods(include_independent).items():
                out = magnify(frames, alpha)
                rows.append({"wavelength": wavelength, "ratio": ratio, "alpha": alpha, "method": name,
                             "gain": gain(out, wavelength, alpha * delta), "error": render_error(out, exact)})
    return rows


def _largest_ratio_within(rows: list[dict], name: str, wavelength: float, tolerance: float = 0.1) -> float:
    """The largest alpha delta0 / lambda up to which the method's gain stays within ``tolerance`` of 1."""
    best = 0.0
    for row in sorted((r for r in rows if r["method"] == name and r["wavelength"] == wavelength),
                      key=lambda r: r["ratio"]):
        if abs(row["gain"] - 1.0) > tolerance:
            break
        best = row["ratio"]
    return best


def verdicts(rows: list[dict]) -> list[str]:
    """The published bounds, checked: linear good while (1 + alpha) delta < lambda / 8, phase while alpha delta < lambda / 4."""
    lines = []
    for wavelength in WAVELENGTHS:
        for name in sorted({r["method"] for r in rows}):
            reach = _largest_ratio_within(rows, name, wavelength)
            lines.append(f"- lambda = {wavelength:g} px, {name}: gain within 10 % of 1 up to "
                         f"alpha delta / lambda = {reach:.3g}")
    phase_reach = min(_largest_ratio_within(rows, "vibmag phase (Riesz)", w) for w in WAVELENGTHS)
    linear_reach = max(_largest_ratio_within(rows, "vibmag linear, no attenuation", w) for w in WAVELENGTHS)
    lines += ["",
              f"Published behaviour: the phase method magnifies exactly to at least lambda / 4 "
              f"({'agrees' if phase_reach >= 1 / 4 else 'DISAGREES'}: within 10 % up to {phase_reach:.3g}); the linear "
              f"method to about lambda / 8 ({'agrees' if 1 / 16 <= linear_reach <= 3 / 16 else 'DISAGREES'}: "
              f"{linear_reach:.3g}, beyond it the gain falls and the error grows), so the phase method's range is "
              "several times the linear one's, as Wadhwa et al. report. `vibmag linear` (the default) attenuates "
              "alpha below a 16 px wavelength by design (Wu et al.'s lambda_c), hence its lower gain at 16 px. "
              "Before this check, the phase method's Riesz transform was the 3-tap approximation of Wadhwa et al. "
              "(2014), which on vibmag's Laplacian pyramid under-magnified by 10-21 % up to alpha delta = lambda / 4 "
              "(gain 0.79-0.90); it is now exact (FFT)."]
    independent = [r for r in rows if r["method"] == "eulerian-magnification linear"]
    if independent:
        ours = {(r["wavelength"], r["ratio"]): r for r in rows if r["method"] == "vibmag linear, no attenuation"}
        gaps = [abs(r["gain"] - ours[(r["wavelength"], r["ratio"])]["gain"]) for r in independent]
        lines += ["", f"Independent implementation: vibmag's linear magnifier (no attenuation) and "
                      f"eulerian-magnification's differ in gain by at most {max(gaps):.3f} over the table "
                      f"(median {float(np.median(gaps)):.3f})."]
    return lines


def markdown(rows: list[dict]) -> str:
    names = list(dict.fromkeys(r["method"] for r in rows))
    header = ["lambda (px)", "alpha delta / lambda", "alpha"] + [f"{n}: gain / error" for n in names]
    table = []
    for wavelength in WAVELENGTHS:
        for ratio in RATIOS:
            cells = {r["method"]: r for r in rows if r["wavelength"] == wavelength and r["ratio"] == ratio}
            first = next(iter(cells.values()))
            table.append([f"{wavelength:g}", f"{ratio:.4g}", f"{first['alpha']:.3g}"]
                         + [f"{cells[n]['gain']:.3f} / {cells[n]['error']:.4f}" for n in names])
    body = [
        f"Produced by `python benchmarks/classical_baselines.py` on {machine_line()}. A cosine grating "
        f"(contrast 0.25, {WIDTH} px wide) moved by a sinusoid of {DELTA0} px, {N_FRAMES} frames, magnified "
        "relative to frame 0; gain: the output motion of the grating's fundamental (from its phase, no flow "
        "estimator) over alpha times the input motion; error: RMS intensity error against the exact magnified "
        "grating. Definitions in the script's docstring.", "",
        markdown_table(header, table), "", *verdicts(rows)]
    return "\n".join(body)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    try:
        import eulerian_magnification  # noqa: F401
        include_independent = True
    except ImportError:
        print("eulerian-magnification is not installed (make bench installs it): its column is left out",
              file=sys.stderr)
        include_independent = False
    text = markdown(run(include_independent))
    print(text)
    if not args.no_write:
        print(f"wrote {update_section(HEADING, text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
