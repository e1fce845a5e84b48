"""The one CSV reader of geoxai: datasets, coordinates, partitionings, cells and hierarchies.

Every cell is read as the exact string in the file (``dtype=str``, no NA guessing, no stripping),
so ids such as ``007`` or ``NA`` and file names such as `` lead.jpg`` survive; columns are found
by role through one set of aliases (``COLUMN_ALIASES``: ``lat``/``latitude``, ``lon``/``lng``/
``long``/``longitude``, ...), case- and space-insensitively; a missing column, a row shorter than
its header or a value that is not a number is a one-line ``TableError`` naming the file (and line).

    table = read_table("data.csv", required=["lat", "lon"], optional=["image", "id"])
    lat = table.floats("lat")       # float64 array; errors name the file and line
    table.frame["image"]            # the raw strings, columns renamed to their roles
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: role -> accepted column names (compared case-insensitively, surrounding spaces ignored)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "image": ("image", "img_path", "path", "file", "filename"),
    "id": ("id", "image_id", "img_id"),
    "key": ("key",),
    "label": ("label", "name"),
}

#: a role: a name looked up in COLUMN_ALIASES (else taken literally), or (role, (aliases...))
Column = str | tuple[str, Sequence[str]]


class TableError(ValueError):
    """A CSV file geoxai cannot use: the message is one line naming the file."""


@dataclass
class Table:
    """A read CSV: ``frame`` holds strings, its role columns renamed to the role."""

    path: Path
    frame: pd.DataFrame  # pandas is imported only for type checking here: this module imports it lazily
    columns: list[str]           # the header as written in the file
    row_lines: list[int]         # the file line (1-based) of each data row

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, role: str) -> bool:
        return role in self.frame.columns

    def line(self, row: int) -> int:
        """The file line of data row ``row`` (0-based position in ``frame``)."""
        return self.row_lines[row]

    def strings(self, role: str) -> list[str]:
        return self.frame[role].tolist()

    def floats(self, role: str) -> np.ndarray:
        """The column as float64; a cell that is not a number is an error naming its line."""
        return self._convert(role, float, np.float64, "a number")

    def ints(self, role: str) -> np.ndarray:
        """The column as int64 (``"3.0"`` counts as 3); other cells are an error naming their line."""
        def to_int(text: str) -> int:
            value = float(text)
            if not value.is_integer():
                raise ValueError(text)
            return int(value)
        return self._convert(role, to_int, np.int64, "an integer")

    def _convert(self, role: str, convert, dtype, kind: str) -> np.ndarray:
        values = self.strings(role)
        out = np.empty(len(values), dtype=dtype)
        for i, text in enumerate(values):
            try:
                out[i] = convert(text)
            except (TypeError, ValueError, OverflowError):
                raise TableError(f"{self.path}:{self.line(i)}: {role} {text!r} is not {kind}") from None
        return out


def _resolve(column: Column) -> tuple[str, tuple[str, ...]]:
    if isinstance(column, str):
        return column, COLUMN_ALIASES.get(column, (column,))
    role, aliases = column
    return role, tuple(aliases)


def _header_line(text: str, first_column: str, path: Path, search: int = 10) -> int:
    """The 0-based line of the header whose first column is ``first_column`` (files with a preamble)."""
    for i, line in enumerate(text.splitlines()[:search]):
        if line.split(",")[0].strip().lower() == first_column.lower():
            return i
    raise TableError(f"{path}: no header line starting with {first_column!r} in the first {search} lines")


def read_table(path: str | os.PathLike, required: Sequence[Column] = (), optional: Sequence[Column] = (),
               what: str = "CSV file", header_starts_with: str | None = None,
               one_of: Sequence[str] = ()) -> Table:
    """Read a CSV file with a header line (``header_starts_with``: skip a preamble up to the line
    whose first column is that name). ``required`` roles must be present, ``optional`` ones may
    be; ``one_of``: at least one of these roles must be present. See the module doc."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if not path.is_file():
        raise TableError(f"{path}: {what} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a UTF-8 {what}") from None
    skip = _header_line(text, header_starts_with, path) if header_starts_with else 0
    body = text if not skip else "\n".join(text.splitlines()[skip:]) + "\n"
    row_lines = _check_rows(body, path, what, offset=skip)
    try:
        frame = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: empty {what} (no header line)") from None
    except pd.errors.ParserError as exc:
        raise TableError(f"{path}: malformed {what} ({' '.join(str(exc).split())})") from None
    if len(frame) != len(row_lines):  # cannot happen for a file that passed _check_rows
        raise TableError(f"{path}: malformed {what} ({len(frame)} rows read, {len(row_lines)} expected)")
    columns = [str(c) for c in frame.columns]
    lowered: dict[str, str] = {}
    for c in columns:
        lowered.setdefault(c.strip().lower(), c)
    rename: dict[str, str] = {}
    missing: list[str] = []
    hints: list[str] = []
    for column in [*required, *optional, *one_of]:
        role, aliases = _resolve(column)
        found = next((lowered[a.lower()] for a in aliases if a.lower() in lowered), None)
        if found is None:
            if column in required:
                missing.append(role)
                if aliases != (role,):
                    hints.append(f"{role}: {'/'.join(aliases)}")
        elif found not in rename:
            rename[found] = role
    if one_of and not any(_resolve(r)[0] in rename.values() for r in one_of):
        missing.insert(0, _resolve(one_of[0])[0])
        hints.insert(0, " or ".join(f"{_resolve(r)[0]}: {'/'.join(_resolve(r)[1])}" for r in one_of))
    if missing:
        accepted = f" (accepted names: {'; '.join(hints)})" if hints else ""
        raise TableError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'}"
                         + accepted)
    frame = frame.rename(columns=rename)
    return Table(path=path, frame=frame.reset_index(drop=True), columns=columns, row_lines=row_lines)


def _check_rows(body: str, path: Path, what: str, offset: int) -> list[int]:
    """The file line of every data row; a row with fewer or more fields than the header is an
    error naming its line (pandas would pad it silently, or fail without the file's name)."""
    reader = csv.reader(io.StringIO(body))
    limit = csv.field_size_limit()
    # no field-size limit (csv's default, 128 KiB, refused the whole file for one long cell): an
    # over-long value fails only its own row, where it is used (a file name longer than a file
    # system allows is that image's one-line error)
    csv.field_size_limit(max(limit, len(body)))
    try:
        header = next(reader, None)
        if header is None:
            raise TableError(f"{path}: empty {what} (no header line)")
        lines = []
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                raise TableError(f"{path}:{reader.line_num + offset}: row has {len(row)} field(s) but the header "
                                 f"has {len(header)} ({', '.join(header)})")
            lines.append(reader.line_num + offset)
    except csv.Error as exc:
        raise TableError(f"{path}:{reader.line_num + offset}: malformed {what} ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    return lines


__all__ = ["COLUMN_ALIASES", "Column", "Table", "TableError", "read_table"]
