"""Write one section of docs/benchmarks.md, leaving the other sections as they are.

Each benchmark script owns one ``## heading`` section; running it replaces
that section (from its heading to the next ``## `` heading) with fresh tables.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
PREAMBLE = """# Benchmarks

Every table below is written by a script in `benchmarks/`; the command that
produced it is given under its heading. Rerun a script to refresh its section.
Timings are wall-clock on the machine named in each section.
"""


def machine_line() -> str:
    """A one-line description of the machine and thread count the numbers come from."""
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, Python {platform.python_version()}, torch {torch.__version__}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; floats are formatted with 4 significant digits."""
    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def update_section(heading: str, body: str, doc: Path = DOC) -> Path:
    """Replace (or append) the ``## heading`` section of docs/benchmarks.md with ``body``."""
    text = doc.read_text() if doc.exists() else PREAMBLE
    section = f"## {heading}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text.rstrip() + "\n")
    return doc


def save_figure(fig, axes, path: Path) -> Path:
    """Legends and grids on ``axes``, then ``fig`` written to ``path`` (folders made) at 110 dpi and closed."""
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
