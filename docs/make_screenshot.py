"""Regenerate docs/images/napari_plugin.png: napari with vibmag's Magnify and Inspect widgets at work.

Run from the repository root (needs the napari extra and a display; xvfb-run
provides one)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python docs/make_screenshot.py

It opens the synthetic plate sample, draws a rectangle over the plate's
middle, lets the Magnify widget suggest a band from the region's spectrum and
magnify it x10 (method "lagrangian", so the picture does not depend on model
weights), probes a point with the Inspect widget and adds the deflection shape
of the strongest peak, then saves the whole window.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

OUTPUT = Path(__file__).parent / "images" / "napari_plugin.png"


def wait(widget, timeout: float = 300.0) -> None:
    """Process Qt events until the widget's background job is done."""
    start = time.monotonic()
    while widget.task.busy:
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{type(widget).__name__} did not finish in {timeout} s")
    if widget.task.error is not None:
        raise RuntimeError(widget.task.status.text())


def main(output: Path = OUTPUT, size=(1800, 1100)) -> Path:
    viewer = napari.Viewer(title="vibmag in napari")
    viewer.window.resize(*size)
    [plate] = viewer.open_sample("vibmag", "plate")
    centre = np.array([[30.0, 40.0], [30.0, 88.0], [66.0, 88.0], [66.0, 40.0]])  # pixels (y, x)
    region = viewer.add_shapes([centre], shape_type="rectangle", name="region", scale=plate.scale[1:],
                               units=plate.units[1:], edge_color="cyan", face_color="transparent", edge_width=1.0)

    _, magnify = viewer.window.add_plugin_dock_widget("vibmag", "Magnify")
    _, inspect = viewer.window.add_plugin_dock_widget("vibmag", "Inspect")
    magnify.image.value, magnify.region.value = plate, region
    magnify.suggest_button.native.click()
    wait(magnify)
    magnify.alpha.value, magnify.method.value = 10.0, "lagrangian"
    magnify.run_button.native.click()
    wait(magnify)

    inspect.image.value, inspect.units.value = plate, "mm"
    inspect.inspect_point(48.0, 30.0)
    wait(inspect)
    inspect.add_deflection_shape()
    for layer in viewer.layers:
        if layer.name.startswith("deflection") and "magnitude" in layer.name:
            layer.opacity = 0.5
    viewer.layers.selection.active = plate
    viewer.dims.set_current_step(0, 9)
    viewer.reset_view()
    QApplication.processEvents()
    time.sleep(0.5)
    QApplication.processEvents()
    output.parent.mkdir(parents=True, exist_ok=True)
    image = viewer.screenshot(path=str(output), canvas_only=False, flash=False)
    print(f"wrote {output} ({image.shape[1]} x {image.shape[0]} px)")
    viewer.close()
    return output


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    main(parser.parse_args().output)
