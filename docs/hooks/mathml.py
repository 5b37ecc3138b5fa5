"""MkDocs hook: the equations become MathML when the site is built, so pages need no script and no network.

``pymdownx.arithmatex`` (generic mode) leaves ``\\( ... \\)`` in
``<span class="arithmatex">`` and ``\\[ ... \\]`` in ``<div class="arithmatex">``;
this hook converts their TeX with ``latex2mathml`` (the docs extra) into
``<math>`` elements, which browsers render natively. A formula it cannot
convert fails the build rather than reaching a page as raw TeX.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)


def _mathml(match: re.Match, display: str) -> str:
    tex = html.unescape(match.group(1)).strip()
    try:
        return convert(tex, display=display)
    except Exception as exc:  # noqa: BLE001 - any failure names the formula
        raise ValueError(f"cannot render the formula {tex!r} as MathML: {exc}") from exc


def on_page_content(content: str, **_) -> str:
    content = _BLOCK.sub(lambda m: f'<div class="arithmatex">{_mathml(m, "block")}</div>', content)
    return _INLINE.sub(lambda m: f'<span class="arithmatex">{_mathml(m, "inline")}</span>', content)
