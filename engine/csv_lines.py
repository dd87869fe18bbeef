"""Physical line numbers for CSV records, found by one vectorised scan that splits records as DuckDB does.

Why: DuckDB's rejects table gives each bad record's start byte (`line_byte_position`), but its `line`
counts records, not lines, and rows it accepts carry no position at all. This scan walks the file in
chunks with numpy, tracks quoting with DuckDB's rules (a quote opens a field only at its start; inside
quotes `""` is a literal quote; a quote elsewhere in an unquoted field is literal), and reports the line
on which each wanted record starts. Line endings are \n, \r\n or a lone \r; blank lines hold no record.
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

    offset_lines: dict[int, int] = field(default_factory=dict)  # record start byte -> 1-based line
    row_lines: dict[int, int] = field(default_factory=dict)  # 0-based output row -> 1-based line
    unmatched_offsets: int = 0  # offsets that are not a record start by this scan (irregular quoting)


@dataclass
class _State:
    offset: int  # file position of the current chunk's first byte
    lines_before: int = 0  # line endings before `offset`
    in_quotes: bool = False
    prev_byte: int = -1  # last byte of the previous chunk; -1 at the start of the data
    prev_ends_record: bool = True  # the previous byte is a record-ending line break (or start of data)
    records: int = 0  # records seen, the header included
    rows: int = 0  # data records that DuckDB kept (not in the rejected offsets)


def locate_lines(
    path: Path, data_start: int, delimiter: str, rejected_offsets: np.ndarray, wanted_rows: np.ndarray
) -> LineScan:
    """Lines of the records starting at `rejected_offsets` (DuckDB rejects) and of `wanted_rows`.

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
        while len(scan.offset_lines) < len(rejected) or len(scan.row_lines) < len(wanted):
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
    scan.unmatched_offsets = len(rejected) - len(scan.offset_lines)
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
    is_rejected = np.isin(absolute, rejected) & is_data
    for offset, line in zip(absolute[is_rejected].tolist(), lines[is_rejected].tolist()):
        scan.offset_lines[offset] = line
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
