"""Every public function of the API contract (shared API.md) has a docstring example, and it runs.

The analysis functions' examples run in tests/analysis/test_docs.py; these are
the other modules'.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

import vibmag

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: module -> the API.md entry points whose examples it holds
MODULES = {
    "vibmag.io": ["open_recording"],
    "vibmag.io.hdf5": ["save", "load"],
    "vibmag.io.video": [],
    "vibmag.io.video_write": ["write_video"],
    "vibmag.flow.api": ["estimate_displacement"],
    "vibmag.pipeline.magnifying": ["magnify"],
    "vibmag.pipeline.surveying": [],
    "vibmag.magnification.infer": ["load_model"],
    "vibmag.magnification.adapt": ["adapt"],
    "vibmag.synthetic": [],
    "vibmag.sample_data": [],
    "vibmag.units": [],
    "vibmag.analysis.filters": ["bandpass"],
    "vibmag.analysis.spectra": ["spectrum"],
    "vibmag.analysis.regions": ["region_mask"],
    "vibmag.analysis.conversions": ["to_physical"],
}
API_FUNCTIONS = ["open_recording", "save", "load", "write_video", "estimate_displacement", "bandpass", "spectrum",
                 "region_mask", "to_physical", "magnify", "load_model", "adapt"]


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_api_function_has_an_example(name):
    function = getattr(vibmag, name)
    assert ">>> " in (function.__doc__ or ""), f"vibmag.{name} has no docstring example"


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith("vibmag.analysis")])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_magnify_stays_the_function_once_the_model_package_is_imported():
    import vibmag.magnification  # noqa: F401  (the model's subpackage must not shadow vibmag.magnify)

    assert vibmag.magnify is importlib.import_module("vibmag.pipeline").magnify
