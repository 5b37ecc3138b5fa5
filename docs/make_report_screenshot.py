"""Make docs/images/report.png: the top of the inspection report of the shipped beam recording, in headless Chromium.

Run from the repository root (Debian: ``apt-get install chromium``)::

    python docs/make_report_screenshot.py

It runs ``vibmag report <showcase_beams> -o <tmp>/beams.html`` (the default
method, flowmag, alpha 20, the band around the dominant peak), shows the page
in ``chromium --headless`` at 1280 px wide, and keeps its top part.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from vibmag import sample_data
from vibmag.cli import main

OUT = Path(__file__).resolve().parent / "images" / "report.png"
WIDTH, HEIGHT, KEEP = 1280, 4200, 2700  # window, and how much of the page's top is kept (px)


def main_() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("needs chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "beams.html"
        if main(["report", str(sample_data.path("showcase_beams")), "-o", str(page)]) != 0:
            return 1
        shot = Path(folder) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri()],
                       check=True, capture_output=True, timeout=300)
        image = Image.open(shot).convert("RGB").crop((0, 0, WIDTH, KEEP))
        image = image.resize((WIDTH * 3 // 4, KEEP * 3 // 4), Image.LANCZOS)
        image.save(OUT, optimize=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
