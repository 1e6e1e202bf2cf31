"""Report writers: turn results into text tables (stdout), JSON, and later CSV/HTML/plots."""

from gan_eval.reports.table import format_result_table

__all__ = ["format_result_table"]
