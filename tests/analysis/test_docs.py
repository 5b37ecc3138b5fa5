"""The examples in docs/analysis.md and in the analysis and viz docstrings run as written."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"
MODULES = ["vibmag.analysis.filters", "vibmag.analysis.spectra", "vibmag.analysis.regions",
           "vibmag.analysis.shapes", "vibmag.analysis.conversions", "vibmag.analysis.accessor", "vibmag.viz"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_user_guide_examples_run():
    result = doctest.testfile(str(DOCS), module_relative=False, optionflags=FLAGS, verbose=False)
    assert result.attempted > 30 and result.failed == 0


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS, verbose=False)
    assert result.attempted > 0 and result.failed == 0
