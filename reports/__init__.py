"""Report writers: workflows return result objects, and this package renders them.

Terminal tables (:mod:`.table`), the sweep's CSV/JSON/plots/HTML (:mod:`.sweep_report`), the audit's
``report.html``, CSVs and ``summary.json`` (:mod:`.audit_html`), image grids (:mod:`.images`) and the
demo (:mod:`.demo`). Installed as ``gan_eval.reports``; the evaluation core never imports it. Names
below load on first use, so importing one writer does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module of this package that defines it
_LAZY = {"format_result_table": "table", "write_audit": "audit_html", "render_audit_html": "audit_html",
         "write_sweep": "sweep_report"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
