"""Physical line numbers for CSV records, found by one vectorised scan that splits records as DuckDB does.

Why: rows DuckDB parses carry no position, and for rows it rejects its rejects table gives a `line` that
counts records (not lines) and a `line_byte_position` that is only near the row: measured on DuckDB 2.0,
it lies between the start of the blank lines before the row and one byte after its start. So this scan
walks the file in chunks with numpy, splits records with DuckDB's quoting rules (a quote opens a field
only at its start; inside quotes `""` is a literal quote; elsewhere a quote is literal), and takes a
rejected row to be the first record starting at or after `line_byte_position - 1` (checked on thousands
of generated files with blank lines, CR/LF/CRLF, BOMs and multi-line fields; see tests/engine).
Line endings are \n, \r\n or a lone \r; blank lines hold no record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK_BYTES = 8 << 20  # (why: a few arrays of this size stay far below the memory budget)
_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")


@dataclass
class LineScan:
    """What one scan found: line of each located byte offset and of each wanted output row."""

    offset_lines: dict[int, int] = field(default_factory=dict)  # DuckDB line_byte_position -> 1-based line
    row_lines: dict[int, int] = field(default_factory=dict)  # 0-based output row -> 1-based line
    unmatched_offsets: int = 0  # offsets with no record after them by this scan (irregular quoting)


@dataclass
class _State:
    offset: int  # file position of the current chunk's first byte
    lines_before: int = 0  # line endings before `offset`
    in_quotes: bool = False
    prev_byte: int = -1  # last byte of the previous chunk; -1 at the start of the data
    prev_ends_record: bool = True  # the previous byte is a record-ending line break (or start of data)
    records: int = 0  # records seen, the header included
    rows: int = 0  # data records that DuckDB kept (not rejected)
    next_target: int = 0  # index of the first rejected offset not yet matched to a record


def locate_lines(
    path: Path, data_start: int, delimiter: str, rejected_offsets: np.ndarray, wanted_rows: np.ndarray
) -> LineScan:
    """Lines of the rows DuckDB rejected (by their line_byte_position) and of `wanted_rows`.

    wanted_rows are 0-based indices among the data records DuckDB kept, i.e. the first record (the header)
    and the rejected ones are not counted. Stops reading once everything wanted is found."""
    rejected = np.unique(np.asarray(rejected_offsets, dtype=np.int64))
    wanted = np.unique(np.asarray(wanted_rows, dtype=np.int64))
    scan = LineScan()
    state = _State(offset=data_start)
    delim = ord(delimiter)
    with open(path, "rb") as handle:
        handle.seek(data_start)
        carry = b""
        while state.next_target < len(rejected) or len(scan.row_lines) < len(wanted):
            block = handle.read(CHUNK_BYTES)
            data, at_eof = carry + block, not block
            if not data:
                break
            cut = len(data) if at_eof else _safe_cut(data)
            if cut == 0:  # a chunk of nothing but quotes and carriage returns: read on
                carry = data
                continue
            carry = data[cut:]
            _scan_chunk(np.frombuffer(data[:cut], dtype=np.uint8), state, delim, rejected, wanted, scan)
            if at_eof:
                break
    scan.unmatched_offsets = len(rejected) - state.next_target
    return scan


def _safe_cut(data: bytes) -> int:
    """Chunk end that splits neither a run of quotes nor a \\r\\n pair (the rest is carried over)."""
    cut = len(data)
    while cut > 0 and data[cut - 1] in (_QUOTE, _CR):
        cut -= 1
    return cut


def _scan_chunk(
    buf: np.ndarray, state: _State, delim: int, rejected: np.ndarray, wanted: np.ndarray, scan: LineScan
) -> None:
    n = len(buf)
    ends = _record_ends(buf, state, delim)  # (E,) positions of line breaks outside quotes
    is_break = (buf == _LF) | (buf == _CR)
    # A record starts at a non-break byte right after a record-ending break (or at the start of data).
    starts = ends + 1
    starts = starts[starts < n]
    starts = starts[~is_break[starts]]
    if state.prev_ends_record and n and not is_break[0]:
        starts = np.concatenate([[0], starts])
    line_ends = np.flatnonzero((buf == _LF) | ((buf == _CR) & (np.append(buf[1:], 0) != _LF)))
    lines = state.lines_before + np.searchsorted(line_ends, starts) + 1  # (R,) 1-based line of each start

    absolute = starts.astype(np.int64) + state.offset
    is_data = np.ones(len(starts), dtype=bool)
    if state.records == 0 and len(starts):
        is_data[0] = False  # the header record
    data_starts = absolute[is_data]
    # Each pending rejected offset belongs to the first data record starting at or after offset - 1.
    pending = rejected[state.next_target :]
    where = np.searchsorted(data_starts, pending - 1, side="left")
    matched = where < len(data_starts)  # a prefix, since `pending` is sorted
    n_matched = int(matched.sum())
    targets = data_starts[where[:n_matched]]
    target_lines = lines[is_data][where[:n_matched]]
    for offset, line in zip(pending[:n_matched].tolist(), target_lines.tolist()):
        scan.offset_lines[offset] = line
    state.next_target += n_matched
    is_rejected = np.isin(absolute, targets) & is_data
    kept = is_data & ~is_rejected
    row_index = state.rows + np.cumsum(kept) - 1
    hit = kept & np.isin(row_index, wanted)
    for row, line in zip(row_index[hit].tolist(), lines[hit].tolist()):
        scan.row_lines[row] = line

    state.records += len(starts)
    state.rows += int(kept.sum())
    state.lines_before += len(line_ends)
    if n:
        state.prev_ends_record = bool(len(ends)) and int(ends[-1]) == n - 1
        state.prev_byte = int(buf[-1])
    state.offset += n


def _record_ends(buf: np.ndarray, state: _State, delim: int) -> np.ndarray:
    """Positions of line-break bytes that lie outside quoted fields; updates state.in_quotes.

    Each run of quotes maps the quoting state through one of three functions: a run of odd length at a
    field start flips it (opens, or closes when inside), one of odd length elsewhere leaves it closed,
    and one of even length keeps it. So the state after a run is the parity of flips since the last
    closing run, which cumsum and maximum.accumulate give without a Python loop."""
    breaks = np.flatnonzero((buf == _LF) | (buf == _CR))
    quotes = np.flatnonzero(buf == _QUOTE)
    if not len(quotes):
        return breaks if not state.in_quotes else np.zeros(0, dtype=np.int64)
    run_first = np.concatenate([[True], np.diff(quotes) > 1])
    run_starts = quotes[run_first]
    run_lengths = np.diff(np.append(np.flatnonzero(run_first), len(quotes)))
    before = np.where(run_starts > 0, buf[np.maximum(run_starts - 1, 0)], state.prev_byte).astype(np.int64)
    at_field_start = (before == delim) | (before == _LF) | (before == _CR) | (before == -1)
    odd = (run_lengths % 2) == 1
    flips = np.cumsum(at_field_start & odd)
    closes = ~at_field_start & odd
    last_close = np.maximum.accumulate(np.where(closes, np.arange(len(run_starts)), -1))
    base = np.where(last_close >= 0, flips[np.maximum(last_close, 0)], 0)
    start_state = np.where(last_close >= 0, False, state.in_quotes)
    quoted_after = start_state ^ ((flips - base) % 2 == 1)  # (Q,) state after each run
    run_before = np.searchsorted(run_starts, breaks) - 1  # last run before each break, -1 if none
    quoted_at_break = np.where(run_before >= 0, quoted_after[np.maximum(run_before, 0)], state.in_quotes)
    state.in_quotes = bool(quoted_after[-1])
    return breaks[~quoted_at_break]
