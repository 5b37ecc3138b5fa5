"""mkdocs hooks for the vibmag site (configured in mkdocs.yml).

Pages other work streams are still writing (the batch runner's and the
napari plugin's guides) are listed in the nav already; until their files
exist, the nav leaves them out with a note instead of a broken link, so a
strict build checks everything else. Every other missing page is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.vibmag")

#: Pages listed in the nav that may not exist yet.
PENDING = {"batch.md", "napari.md"}


def on_config(config, **kwargs):
    docs = Path(config["docs_dir"])
    config["nav"] = _prune(config["nav"], docs)
    return config


def _prune(items, docs: Path):
    kept = []
    for item in items:
        (title, value), = item.items() if isinstance(item, dict) else ((None, item),)
        if isinstance(value, list):
            value = _prune(value, docs)
        elif isinstance(value, str) and value in PENDING and not (docs / value).exists():
            log.info("nav: %s (%s) is not written yet; left out of this build", value, title)
            continue
        kept.append(value if title is None else {title: value})
    return kept
