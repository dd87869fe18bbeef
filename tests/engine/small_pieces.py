"""Tests' switch for engine.csv_pieces: cut quote-free files of any size, so that small test files are read
in pieces (beside the tests that import it; pytest puts tests/engine on the path)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine import csv_pieces


@contextmanager
def pieces_of(piece_bytes: int, max_pieces: int = 64) -> Iterator[None]:
    """Cut quote-free files of any size into pieces of about `piece_bytes`, at most `max_pieces`."""
    saved = csv_pieces.PIECE_BYTES, csv_pieces.MIN_SPLIT_BYTES, csv_pieces.MAX_PIECES
    csv_pieces.PIECE_BYTES, csv_pieces.MIN_SPLIT_BYTES, csv_pieces.MAX_PIECES = piece_bytes, 0, max_pieces
    try:
        yield
    finally:
        csv_pieces.PIECE_BYTES, csv_pieces.MIN_SPLIT_BYTES, csv_pieces.MAX_PIECES = saved
