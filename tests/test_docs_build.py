"""The documentation site builds with ``mkdocs build --strict``: no warnings, no broken links or references.

Strict mode fails on links to missing pages or anchors, on API references
mkdocstrings cannot resolve, and on docstrings griffe cannot parse. The
examples in the pages that are doctests (``>>>``) run in their own tests.
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mkdocstrings_handlers.python  # noqa: F401  (the docs extra installs mkdocs and mkdocstrings[python])

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_docs_build_strict(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-6000:]
    for page in ("index.html", "guide/index.html", "method/index.html", "api/magnification/index.html", "changelog/index.html"):
        assert (tmp_path / "site" / page).exists(), page
    api = (tmp_path / "site" / "api" / "magnification" / "index.html").read_text()
    assert 'id="vibmag.pipeline.magnify"' in api
    outside = [f"{page.relative_to(tmp_path / 'site')}: {tag[:100]}" for page in sorted((tmp_path / "site").rglob("*.html"))
               for tag in OUTSIDE.findall(page.read_text())]
    assert not outside, "pages load scripts or styles from the network:\n" + "\n".join(outside[:10])
    method = (tmp_path / "site" / "method" / "index.html").read_text()
    assert method.count("<math") > 20 and "\\(" not in method  # equations rendered at build time, none left as TeX


#: A script, style sheet, font or frame that a page would fetch from elsewhere (the site must work offline).
OUTSIDE = re.compile(r"<(?:script|link|iframe|img)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//[^>]*>|@import\s+url\([\"']?(?:https?:)?//", re.I)


@pytest.mark.parametrize("page, examples", [("flow.md", 6), ("method.md", 6)])
def test_page_examples_run(page, examples):
    result = doctest.testfile(str(ROOT / "docs" / page), module_relative=False, optionflags=FLAGS, verbose=False)
    assert result.attempted >= examples and result.failed == 0
