"""Cut a large CSV into pieces at line breaks, so that DuckDB can number the rows of each piece on its own
thread.

Why: rows are numbered in file order while they are read (`WITH ORDINALITY`), and a numbered read runs
on one thread; on a 1 GB file that numbering cost about 10 of 28 seconds. Numbered reads of separate
pieces run side by side, and a row's position becomes (piece << PIECE_SHIFT) + its index in the piece:
still in file order, and the same for the same file on any machine (the cuts depend on the bytes only).

Only files without any quote character are cut: there every line break ends a record, so a cut can never
fall inside a field. Files with quotes, small files and files without \\n line breaks stay whole.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from engine.csv_read import COPY_CHUNK_BYTES, CsvFormat

PIECE_BYTES = 64 << 20  # target size of a piece (why: a few per core, so the last one does not run alone long)
MIN_SPLIT_BYTES = 2 * PIECE_BYTES  # smaller files are read whole (why: the copy would cost more than it saves)
MAX_PIECES = 64  # (why: every piece is one more read_csv in the statement)
PIECE_SHIFT = 40  # position = (piece << PIECE_SHIFT) + row index in the piece: 10^12 rows per piece


@dataclass(frozen=True)
class Piece:
    """One file DuckDB reads: the source itself, or a copy of a stretch of it behind the header line."""

    path: Path
    start: int  # offset in the source of the piece's first byte after its prefix
    prefix: int  # bytes before that in `path`: the copied header line (0 for the first piece)
    skip: int  # blank lines DuckDB skips before the header


def whole(fmt: CsvFormat) -> list[Piece]:
    return [Piece(fmt.path, 0, 0, fmt.blank_lines_before_header)]


def split_csv(fmt: CsvFormat, workdir: Path) -> list[Piece]:
    """The pieces to read `fmt.path` as, written to `workdir` when it is cut; [whole file] otherwise."""
    size = fmt.path.stat().st_size
    if size < MIN_SPLIT_BYTES:
        return whole(fmt)
    with open(fmt.path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find(b'"') != -1:
            return whole(fmt)
        header_start = fmt.data_start
        for _ in range(fmt.blank_lines_before_header):
            header_start = data.find(b"\n", header_start) + 1
            if header_start == 0:
                return whole(fmt)
        header_end = data.find(b"\n", header_start) + 1
        if header_end == 0:
            return whole(fmt)
        header = data[header_start:header_end]
        cuts = _cuts(data, size, header_end, min(MAX_PIECES, -(-size // PIECE_BYTES)))
        if not cuts:
            return whole(fmt)
    bounds = [0, *cuts, size]
    pieces = []
    with open(fmt.path, "rb") as source:
        for index, (start, stop) in enumerate(zip(bounds, bounds[1:])):
            path = workdir / f"piece-{index:04d}.csv"
            with open(path, "wb") as sink:
                if index:
                    sink.write(header)
                    sink.flush()
                _copy_range(source, sink, start, stop - start)
            pieces.append(Piece(path, start, len(header) if index else 0, 0 if index else fmt.blank_lines_before_header))
    return pieces


def _cuts(data: mmap.mmap, size: int, header_end: int, n_pieces: int) -> list[int]:
    """Offsets just after a \\n near each k/n of the file, increasing, past the header, before the end."""
    cuts: list[int] = []
    for k in range(1, n_pieces):
        at = data.find(b"\n", max(k * size // n_pieces, header_end, cuts[-1] if cuts else 0)) + 1
        if at == 0 or at >= size:
            break
        if not cuts or at > cuts[-1]:
            cuts.append(at)
    return cuts


def _copy_range(source, sink, offset: int, count: int) -> None:
    """Copy `count` bytes from `offset` of source to the end of sink, in the kernel where it can."""
    done = 0
    try:
        while done < count:
            copied = os.copy_file_range(source.fileno(), sink.fileno(), count - done, offset + done)
            if copied == 0:
                break
            done += copied
    except (AttributeError, OSError):  # another platform or file system: plain reads and writes
        pass
    source.seek(offset + done)
    while done < count:
        chunk = source.read(min(COPY_CHUNK_BYTES, count - done))
        if not chunk:
            break
        sink.write(chunk)
        done += len(chunk)
    if done != count:
        raise OSError(f"copied {done} of {count} bytes of {source.name}")


def positions_in_whole_file(positions: list[int], rows_per_piece: dict[int, int]) -> list[int]:
    """Piece positions ((piece << PIECE_SHIFT) + index) as indices among the rows of every piece in order,
    given how many rows each piece put in the table: what a whole-file read would have numbered them."""
    before, total = {}, 0
    for piece in sorted(rows_per_piece):
        before[piece] = total
        total += rows_per_piece[piece]
    mask = (1 << PIECE_SHIFT) - 1
    return [before[position >> PIECE_SHIFT] + (position & mask) for position in positions]
