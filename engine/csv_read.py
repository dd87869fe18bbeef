"""Turn an uploaded file into something DuckDB can read safely: encoding, binary check, delimiter, header.

Why here and not in DuckDB's sniffer: the checks must give one clear sentence per problem (empty file,
an image renamed .csv, duplicate columns, ...) and be deterministic, so they run on a prefix of the file
in Python; the rows themselves are then read by DuckDB (engine.ingest) with every option spelled out.
Files that are not UTF-8 (UTF-16, or Latin-1 as the fallback) are copied to a UTF-8 file first, so
DuckDB's byte positions and the line scan in engine.csv_lines refer to the same bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

SNIFF_BYTES = 1 << 20  # prefix read to find the encoding, delimiter, header and sample rows
SAMPLE_ROWS = 2000  # sample rows kept for previews and timestamp/decimal detection
COPY_CHUNK_BYTES = 16 << 20
MAX_LINE_BYTES = 2 << 20  # longer records are rejected (why: a runaway quote must not swallow the file)
DELIMITERS = (",", ";", "\t", "|")  # in order of preference when two fit equally well
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")  # control characters other than tab, CR, LF, FF
_MAGIC = (  # (prefix, what it is) for binary files that are often uploaded by mistake
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one; save it as CSV instead)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Office document (save it as CSV instead)"),
    (b"\x1f\x8b", "a gzip-compressed file (decompress it first)"),
    (b"BZh", "a bzip2-compressed file (decompress it first)"),
    (b"\xfd7zXZ", "an xz-compressed file (decompress it first)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
)

csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))  # the sniffer must see long fields too


class IngestRefused(Exception):
    """The file cannot be used at all; the message is one sentence saying what to fix."""


@dataclass(frozen=True)
class CsvFormat:
    """How to read one file, decided from its first SNIFF_BYTES (and, after prepare_csv, the whole file)."""

    path: Path  # the file DuckDB reads: the upload itself, or its UTF-8 copy
    label: str  # the file name used in messages ("ratings.csv")
    encoding: str  # of the upload: utf-8, utf-8-sig (with BOM), utf-16-le, utf-16-be or latin-1
    delimiter: str
    data_start: int  # bytes before the header in `path` (a UTF-8 byte-order mark)
    header: tuple[str, ...]  # verbatim, in file order
    sample_rows: tuple[tuple[str, ...], ...]  # first data rows as parsed by the csv module
    blank_lines_before_header: int = 0  # DuckDB would take the first blank line for the header


def sniff_csv(path: Path, label: str | None = None) -> CsvFormat:
    """Encoding, delimiter, header and sample rows from the start of `path`; IngestRefused if unusable."""
    label = label or Path(path).name
    try:
        size = Path(path).stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(SNIFF_BYTES)
    except OSError as error:
        raise IngestRefused(f"{label} cannot be opened: {error.strerror or error}") from None
    encoding, bom = _detect_encoding(prefix, label)
    text = _decode_prefix(prefix[bom:], encoding, label)
    if not text.strip():
        raise IngestRefused(f"{label} is empty; it needs a header row and at least one data row")
    _refuse_control_characters(text, label)
    at_eof = size <= len(prefix)
    delimiter, records = _sniff_delimiter(text, at_eof, label)
    header = tuple(records[0])
    _check_header(header, label)
    rows = tuple(tuple(record) for record in records[1:])
    if not rows:
        raise IngestRefused(f"{label} has a header row but no data rows")
    leading = re.match(r"[\r\n]*", text).group()
    blank_lines = len(re.findall(r"\r\n|\r|\n", leading))
    return CsvFormat(Path(path), label, encoding, delimiter, bom, header, rows, blank_lines)


def prepare_csv(fmt: CsvFormat, target: Path) -> tuple[CsvFormat, list[str]]:
    """Check the whole file's encoding and give DuckDB a UTF-8 file; returns the format to read and warnings.

    UTF-8 is read in place. UTF-16 is copied to `target` as UTF-8. A file that is not valid UTF-8 is read as
    Latin-1 (the usual single-byte export encoding) and copied, unless valid multi-byte UTF-8 came before
    the first bad byte: then it is UTF-8 with a few corrupt rows, which DuckDB rejects one by one."""
    if fmt.encoding in ("utf-8", "utf-8-sig"):
        status = _utf8_status(fmt.path, fmt.data_start)
        if status == "valid":
            return fmt, []
        if status == "mostly":
            return fmt, [f"{fmt.label} is UTF-8 with some invalid bytes; the rows holding them are rejected"]
    warnings = []
    encoding = fmt.encoding
    if encoding in ("utf-8", "utf-8-sig"):
        encoding = "latin-1"
        warnings.append(f"{fmt.label} is not valid UTF-8; it was read as Latin-1 (ISO-8859-1)")
    _transcode(fmt, encoding, target)
    return replace(fmt, path=target, encoding=encoding, data_start=0), warnings


def normalize_newlines(fmt: CsvFormat, target: Path) -> CsvFormat:
    """Copy a UTF-8 file to `target` with every \\r\\n and lone \\r turned into \\n (same line count)."""
    with open(fmt.path, "rb") as source, open(target, "wb") as sink:
        source.seek(fmt.data_start)
        carry = b""
        while chunk := source.read(COPY_CHUNK_BYTES):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            chunk = chunk[:-1] if carry else chunk
            sink.write(chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        sink.write(carry.replace(b"\r", b"\n"))
    return replace(fmt, path=target, data_start=0)


def _detect_encoding(prefix: bytes, label: str) -> tuple[str, int]:
    """(encoding, byte-order-mark length); IngestRefused for binary files and unsupported encodings."""
    if not prefix:
        raise IngestRefused(f"{label} is empty; it needs a header row and at least one data row")
    if prefix.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise IngestRefused(f"{label} is UTF-32 encoded; save it as UTF-8 (or UTF-16) and upload it again")
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", 3
    if prefix.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if prefix.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    for magic, what in _MAGIC:
        if prefix.startswith(magic):
            raise IngestRefused(f"{label} is {what}, not a CSV file; upload a text CSV export")
    if b"\x00" in prefix:
        even, odd = prefix[0::2], prefix[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le", 0
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be", 0
        raise IngestRefused(f"{label} contains binary data (NUL bytes), not CSV text; upload a text CSV export")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=False)
    except UnicodeDecodeError as error:  # UTF-8 with a few bad bytes if real multi-byte text came first
        return ("utf-8", 0) if not prefix[: error.start].isascii() else ("latin-1", 0)
    return "utf-8", 0


def _decode_prefix(data: bytes, encoding: str, label: str) -> str:
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    errors = "replace" if codec == "utf-8" else "strict"  # bad UTF-8 rows are rejected later, one by one
    try:
        return codecs.getincrementaldecoder(codec)(errors).decode(data, final=False)
    except UnicodeDecodeError:
        raise IngestRefused(f"{label} is not valid {encoding.upper()} text; save it as UTF-8 and upload it again") from None


def _refuse_control_characters(text: str, label: str) -> None:
    controls = len(_CONTROL.findall(text))
    if controls > max(8, len(text) // 100):
        raise IngestRefused(f"{label} looks like binary data (many control characters), not CSV text")


def _parse(text: str, delimiter: str, limit: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    return [record for record in islice(reader, limit) if record]


def _sniff_delimiter(text: str, at_eof: bool, label: str) -> tuple[str, list[list[str]]]:
    """The delimiter whose header has >= 2 columns and whose first rows agree with it best."""
    if not at_eof:  # the last record may be cut off by the prefix
        text = text[: max(text.rfind("\n"), text.rfind("\r")) + 1]
    best, best_score = None, None
    for delimiter in DELIMITERS:
        records = _parse(text[: 64 << 10], delimiter, 50)
        if not at_eof and len(text) > 64 << 10 and len(records) > 2:
            records = records[:-1]
        width = len(records[0]) if records else 0
        body = records[1:]
        agree = sum(len(record) == width for record in body) / len(body) if body else 1.0
        score = (width >= 2, agree, width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    if best is None or not best_score[0]:
        raise IngestRefused(
            f"{label} has a single column (no comma, semicolon, tab or pipe between the header names); "
            "it needs at least a user column and an item column"
        )
    records = _parse(text, best, SAMPLE_ROWS + 1)
    return best, records


def _check_header(header: tuple[str, ...], label: str) -> None:
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise IngestRefused(f'{label} has two columns named "{name}"; give every column a different name')
        seen.add(name)


def _utf8_status(path: Path, start: int) -> str:
    """"valid", "mostly" (bad bytes after some valid multi-byte text) or "invalid" (bad bytes, no multi-byte)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    seen_multibyte = False
    with open(path, "rb") as handle:
        handle.seek(start)
        while chunk := handle.read(COPY_CHUNK_BYTES):
            if chunk.isascii() and not decoder.getstate()[0]:
                continue
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return "mostly" if seen_multibyte or not chunk[: error.start].isascii() else "invalid"
            seen_multibyte = True
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "mostly" if seen_multibyte else "invalid"
    return "valid"


def _transcode(fmt: CsvFormat, encoding: str, target: Path) -> None:
    """Copy `fmt.path` as UTF-8 without a byte-order mark, a chunk at a time."""
    decoder = codecs.getincrementaldecoder(encoding)()
    boms = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    skip = codecs.BOM_UTF8 if fmt.encoding == "utf-8-sig" else boms.get(encoding, b"")
    with open(fmt.path, "rb") as source, open(target, "wb") as sink:
        head = source.read(len(skip))
        if head != skip:
            source.seek(0)
        try:
            while chunk := source.read(COPY_CHUNK_BYTES):
                sink.write(decoder.decode(chunk).encode("utf-8"))
            sink.write(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as error:
            raise IngestRefused(
                f"{fmt.label} is not valid {encoding.upper()} text ({error.reason}); save it as UTF-8 and upload it again"
            ) from None
