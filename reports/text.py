"""User-given text (attribute, checkpoint, folder and rule names) made safe for each kind of output.

HTML is escaped by the templates (Jinja2 autoescape), XML by ElementTree plus
:func:`gan_eval.files.xml_legal`, CSV cells by :func:`gan_eval.files.csv_safe_cell`; this module covers
the rest: terminal tables (no control characters, so a name cannot move the cursor or recolour the
terminal), Markdown (a name is shown as text: no markup, no links, no broken table rows) and
matplotlib figures (a ``$`` is a dollar sign, not the start of mathtext that fails to parse).
"""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")  # only a < that could open a tag or autolink; "<= 25" stays


def terminal_safe(text: Any) -> str:
    """``text`` on one line with every control character shown as its escape (``\\x1b``, ``\\n``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def markdown_safe(text: Any) -> str:
    """``text`` as literal Markdown (GitHub-flavoured, table cells included): ``&`` and a ``<`` that could
    open a tag as entities, markup characters backslash-escaped, control characters (line breaks) as spaces."""
    one_line = _CONTROL.sub(" ", str(text)).replace("&", "&amp;")
    return _MARKDOWN.sub(r"\\\1", _TAG_OPEN.sub("&lt;", one_line))


def literal_figure_text(fig: Any) -> None:
    """Show every text already set in ``fig`` literally: no mathtext, no control characters.

    Matplotlib reads text between two ``$`` as mathtext, and an attribute named ``cost $x^$`` would
    fail to draw; control characters would end up in the SVG, which XML forbids. Call just before saving.
    """
    from matplotlib.text import Text

    for item in fig.findobj(Text):
        text = item.get_text()
        if "$" in text or _CONTROL.search(text):
            item.set_parse_math(False)
            item.set_text(_CONTROL.sub("\ufffd", text))
