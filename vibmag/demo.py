"""The README's main job: open the shipped real beam recording and show what it holds.

``vibmag demo`` (or :func:`run_demo`) writes into an output folder:

* ``recording.txt``: what ``vibmag info`` prints for the recording;
* ``overview.png``: the first frame, and the temporal standard deviation of
  intensity per pixel (bright where something moves), in the recording's
  pixel coordinates.
"""

from __future__ import annotations

from pathlib import Path

from .errors import OverwriteError

__all__ = ["run_demo", "DEMO_SAMPLE"]

#: The shipped recording the demo runs on (see :mod:`vibmag.sample_data`).
DEMO_SAMPLE = "showcase_beams"


def run_demo(output: str | Path = "vibmag-demo", *, overwrite: bool = False) -> list[Path]:
    """Run the demo; return the paths written.

    Raises
    ------
    OverwriteError
        If an output exists and ``overwrite`` is False.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .cli import describe_recording
    from .sample_data import open_sample

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    targets = {name: output / name for name in ("recording.txt", "overview.png")}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise OverwriteError(f"outputs exist: {', '.join(existing)}; pass --overwrite to replace them")
    ds = open_sample(DEMO_SAMPLE)
    targets["recording.txt"].write_text(describe_recording(ds) + "\n")
    frames = ds["frames"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 3.6), constrained_layout=True)
    frames.isel(time=0).plot.imshow(ax=top, cmap="gray", add_colorbar=False)
    top.set_title(f"first frame, {ds.attrs['frame_rate']} capture rate")
    frames.std("time").plot.imshow(ax=bottom, cmap="magma", cbar_kwargs={"label": "intensity std"})
    bottom.set_title("temporal std of intensity (bright where something moves)")
    fig.savefig(targets["overview.png"], dpi=100)
    plt.close(fig)
    return list(targets.values())
