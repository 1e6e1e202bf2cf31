"""Atomic file writes (a reader never sees a half-written output or cache file), and text made safe
for the formats gan-eval writes: CSV cells that a spreadsheet would run as formulas, XML-illegal characters."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_eval.errors import GanEvalError

if TYPE_CHECKING:  # only an annotation: pandas is imported by whoever made the frame
    import pandas as pd


class UnwritablePathError(GanEvalError, OSError):
    """An output cannot be written where the user asked (one line naming the path).

    Also an :class:`OSError`, so a caller that turns write failures into its own error (the gate's
    reports: exit 2) still does.
    """


def _reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def check_output_path(path: str | os.PathLike, *, folder: bool | None = False) -> None:
    """Raise :class:`UnwritablePathError` unless ``path`` can be written, without creating anything.

    ``folder``: True for an output folder, False for a file, None for either. Missing parent folders
    are fine (they are made when the output is written), but the nearest existing one must be a
    writable folder: a probe file is created in it and removed, which answers for root, read-only
    mounts and ACLs alike (``os.access`` does not). Commands call this before their long work.
    """
    target = Path(path)
    if target.is_dir():
        if folder is False:
            raise UnwritablePathError(f"cannot write {target}: it is a folder; give a file name")
    elif os.path.lexists(target) and folder is True:
        raise UnwritablePathError(f"cannot write {target}: it exists and is not a folder")
    ancestor = target if target.is_dir() else target.parent
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UnwritablePathError(f"cannot write {target}: {ancestor} is a file, not a folder")
    try:
        probe = _create_temp(ancestor / "gan-eval-probe", ".tmp")
    except OSError as exc:
        raise UnwritablePathError(f"cannot write {target}: folder {ancestor} is not writable "
                                  f"({exc.strerror or type(exc).__name__})") from None
    probe.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was. A folder that
    cannot be made or written is an :class:`UnwritablePathError` naming ``path``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = _create_temp(target, suffix or ".tmp")
    except OSError as exc:
        raise UnwritablePathError(f"cannot write {target}: {_reason(exc)}") from None
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise UnwritablePathError(f"cannot write {target}: {_reason(exc)}") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _create_temp(target: Path, suffix: str) -> Path:
    """Create a new empty file beside ``target`` with mode 0o666 & ~umask, as ``open(path, "w")`` would.

    ``tempfile.mkstemp`` makes 0600 files (outputs and checkpoints came out unreadable to the group);
    reading the umask means setting it, which is not thread-safe, so the file is created with
    ``O_EXCL`` and the usual 0o666 and the kernel applies the umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name beside {target}")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8; a file name that is not valid UTF-8 shows as ``\\udcff``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", errors="backslashreplace")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- safe text for CSV and XML

# Characters XML 1.0 forbids (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF); HTML readers choke
# on the same ones, so the audit page gets the same treatment.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def xml_legal(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by U+FFFD.

    Escaping ``<``, ``&`` and quotes is the serializer's job; this removes what no escaping can make
    legal (a control character in a rule name would make a JUnit file unreadable to every CI).
    """
    return _XML_ILLEGAL.sub("\ufffd", text)


def csv_safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'``; anything else as is.

    Cells beginning with ``=``, ``+``, ``-``, ``@``, tab or CR are the OWASP CSV-injection set. Numbers
    are never touched, nor text that reads as a plain number (``-0.5``), so values keep their meaning.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`csv_safe_cell` applied to its text cells and column names."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind not in "biufcmM":  # text (object or string dtype), not numbers or dates
            out[column] = out[column].map(csv_safe_cell)
    out.columns = [csv_safe_cell(c) for c in out.columns]
    return out
