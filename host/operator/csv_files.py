"""CSV files as registry clerks save them: UTF-8 (with or without the BOM Excel writes) or a legacy
code page such as cp1251, comma- or semicolon-delimited (Excel in a Russian or Uzbek locale writes
``;``). Every import reads through here, so each takes the same ``--encoding`` and ``--delimiter``
and names a decoding error the same way (file, line, byte).

    with csv_files.opened(path, encoding="cp1251", delimiter=";") as table:
        table.require(("pinfl", "surname"))  # the header, read alone
        for line, row in table.rows():  # decoded lazily, line by line
            ...
    csv_files.write(path, header, rows, encoding=table.encoding, delimiter=table.delimiter)

Depends on the standard library and ``core.errors`` only, so any command may reuse it.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

from core.errors import ValidationFailed

UTF8 = ("utf-8", "utf8", "utf_8", "utf-8-sig", "utf_8_sig")


class Table:
    """An opened CSV file: its ``header`` (read on opening) and its ``rows()``."""

    def __init__(self, path: str, raw: BinaryIO, encoding: str, delimiter: str) -> None:
        self.path, self.delimiter = path, delimiter
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
        if utf8:  # a BOM is read past, and written back to the rejects file (Excel needs it)
            self.encoding = "utf-8-sig" if raw.read(3) == codecs.BOM_UTF8 else "utf-8"
            raw.seek(0)
        else:
            self.encoding = encoding
        self._reader = csv.reader(_decoded(raw, path, "utf-8-sig" if utf8 else encoding), delimiter=delimiter)
        first = next(self._reader, None)
        if not first:
            raise ValidationFailed(f"{path}: the file is empty: the first line must name the columns")
        self.header = tuple(name.strip() for name in first)

    def require(self, columns: Sequence[str], optional: Sequence[str] = ()) -> None:
        """Refuse a header that lacks any of ``columns`` (``optional`` ones may be missing)."""
        missing = [c for c in columns if c not in self.header and c not in optional]
        if missing:
            hint = ""
            if len(self.header) == 1 and any(d in self.header[0] for d in ";,\t" if d != self.delimiter):
                hint = " (is it delimited by another character? name it with --delimiter)"
            raise ValidationFailed(f"{self.path}: the CSV header lacks {', '.join(missing)}; expected "
                                   f"{self.delimiter.join(columns)}{hint}")

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number of the row's first line, values by column, stripped); blank lines skipped."""
        start = self._reader.line_num + 1
        for values in self._reader:
            if any(v.strip() for v in values):
                yield start, {name: (values[i].strip() if i < len(values) else "")
                              for i, name in enumerate(self.header) if name}
            start = self._reader.line_num + 1


@contextmanager
def opened(path: str, *, encoding: str = "utf-8", delimiter: str = ",") -> Iterator[Table]:
    """Open ``path`` and read its header; an unknown encoding, a delimiter that is not one
    character, or an empty file is refused (:class:`ValidationFailed`), as is a row that does not
    decode, when :meth:`Table.rows` reaches it."""
    _check(encoding, delimiter)
    try:
        raw = open(path, "rb")  # closed below, once the caller has read its rows
    except OSError as exc:
        raise ValidationFailed(f"{path}: cannot read the file: {exc.strerror}") from exc
    with raw:
        yield Table(path, raw, encoding, delimiter)


def write(path: str, header: Sequence[str], rows: Iterable[Sequence[object]], *, encoding: str = "utf-8",
          delimiter: str = ",") -> None:
    """Write a CSV file a clerk opens as they opened its source (same encoding and delimiter); a
    character the code page lacks is written as ``?``."""
    _check(encoding, delimiter)
    with open(path, "w", encoding=encoding, errors="replace", newline="") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)


def _check(encoding: str, delimiter: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValidationFailed(f"unknown encoding {encoding!r} (e.g. utf-8, cp1251)") from None
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValidationFailed(f"the delimiter must be one character such as , or ; not {delimiter!r}")


def _decoded(raw: BinaryIO, path: str, encoding: str) -> Iterator[str]:
    """The file's lines as text, decoded one at a time: a byte that is not ``encoding`` is named by
    line and offset, with the way out (typically a spreadsheet saved in a legacy code page)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    name = "UTF-8" if encoding in UTF8 else encoding
    offset = 0
    for number, chunk in enumerate(raw, start=1):
        try:
            yield decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start] if exc.start < len(exc.object) else 0
            raise ValidationFailed(f"{path}: not {name} text: byte 0x{bad:02x} at line {number}, offset "
                                   f"{offset + exc.start} is not {name}; {_WAY_OUT}") from exc
        offset += len(chunk)
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{path}: not {name} text: it ends inside a character; {_WAY_OUT}") from exc
    if tail:
        yield tail


_WAY_OUT = "save the file as CSV UTF-8 or name its encoding (e.g. --encoding cp1251)"
