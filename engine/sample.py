"""Load the bundled MovieLens sample into a store on first use, once, even under concurrent callers.

Why a lock and a re-check: DuckDB lets one process write a file at a time (Store retries while another
holds it), but the threads of one process share that right, so they take turns on a module lock; the
check and the write happen on one connection, so whoever comes second finds the sample and writes nothing.
"""

from __future__ import annotations

import threading

from engine.movielens import SAMPLE_NAME, read_movielens
from engine.store import DatasetInfo, Store, StoreError, find_dataset_on, write_dataset_on

_SAMPLE_LOCK = threading.Lock()


def ensure_sample(store: Store) -> DatasetInfo:
    """The sample's DatasetInfo, writing "movielens-small" in one transaction if the store lacks it.

    A read-only store without the sample raises StoreError instead of writing."""
    with store.connect() as con:
        info = find_dataset_on(con, SAMPLE_NAME)
    if info is not None:
        return info
    if store.read_only:
        raise StoreError(f'the read-only store {store.path} has no "{SAMPLE_NAME}" dataset')
    frames = read_movielens()  # read before connecting again, so the file is held only while writing
    with _SAMPLE_LOCK, store.connect() as con:
        info = find_dataset_on(con, SAMPLE_NAME)
        return info if info is not None else write_dataset_on(con, frames, replace=False)
