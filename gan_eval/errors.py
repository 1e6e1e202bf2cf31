"""Errors meant for the user: the CLI prints their message on one line and exits non-zero."""

from __future__ import annotations


class GanEvalError(Exception):
    """A problem with the user's input or environment, explained in the message (no traceback)."""

    exit_code = 1


class WeightsUnavailableError(GanEvalError):
    """Feature-extractor weights could not be found locally nor downloaded."""
