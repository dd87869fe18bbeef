"""Non-attention baselines the attention model must beat, under the very same split and evaluation path.

Every baseline is fitted once on the training parts (data.train_sequence) and, like the attention model,
reads data.history(user, split) as the user's input at scoring time. Defaults were chosen on the
VALIDATION split of movielens-small only (sweeps in each class docstring); test numbers were not looked
at to pick anything. References: EASE, Steck 2019 (arXiv:1905.03375); BPR, Rendle et al. 2009.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from engine.dataset import PAD, SequenceData
from engine.evaluate import Scorer, history_mask

_CHUNK = 2048  # candidate items per block when building item-item similarities (bounds peak memory)


def train_matrix(data: SequenceData, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(U, I+1) binary user-item matrix of the training parts, row u-1 = dense user u."""
    users = np.arange(1, data.n_users + 1)
    sequences = [data.train_sequence(int(u)) for u in users]
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)  # (U,)
    rows = torch.repeat_interleave(torch.arange(len(users)), lengths)  # (nnz,)
    cols = torch.from_numpy(np.concatenate(sequences).astype(np.int64))  # (nnz,)
    matrix = torch.zeros(len(users), data.n_items + 1, dtype=dtype)  # (U, I+1)
    matrix[rows, cols] = 1.0
    return matrix


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run tiny-tensor loops on one thread (why: per-step work is too small to split; two threads ran a
    BPR step 4x slower on the 2-core target), restoring the caller's setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Fitted:
    """Shared bookkeeping: remember which dataset was fitted and how long it took."""

    fingerprint: str = ""
    fit_seconds: float = 0.0

    def _start_fit(self, data: SequenceData) -> float:
        self.fingerprint = data.fingerprint
        return time.perf_counter()

    def _check(self, data: SequenceData) -> None:
        if not self.fingerprint:
            raise RuntimeError(f"{type(self).__name__} must be fitted before scoring")
        if data.fingerprint != self.fingerprint:
            name = type(self).__name__
            raise ValueError(f"{name} was fitted on another dataset ({self.fingerprint} != {data.fingerprint})")


class MostPopular(_Fitted):
    """Score = the item's interaction count in the training parts; the same list for everyone."""

    def fit(self, data: SequenceData) -> MostPopular:
        start = self._start_fit(data)
        self.counts = torch.from_numpy(data.train_item_counts()).double()  # (I+1,)
        self.fit_seconds = time.perf_counter() - start
        return self

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        self._check(data)
        return self.counts.unsqueeze(0).expand(len(users), -1)  # (B, I+1)


class ItemKNN(_Fitted):
    """Item-based kNN: score_j = sum over history items i among j's k nearest neighbours of cos(i, j).

    cos(i, j) = |users with i and j| / (sqrt(|users with i| |users with j|) + shrink), on binary training
    sequences (Sarwar et al. 2001, with shrinkage as in Koren 2008).

    Defaults from a validation sweep on movielens-small (NDCG@10; one standard error is about 0.007):
    k 5 / shrink 2 -> 0.048 (chosen); k 5/0 0.047, 5/10 0.047, 10/5 0.043, 2/2 0.044, 20/10 0.038,
    50/10 0.033, 100/10 0.031, 500/10 0.024. Few neighbours win on this small, sparse catalogue.
    """

    def __init__(self, k_neighbours: int = 5, shrink: float = 2.0) -> None:
        if k_neighbours < 1 or shrink < 0:
            raise ValueError(f"k_neighbours must be >= 1 and shrink >= 0, got {k_neighbours}, {shrink}")
        self.k_neighbours = k_neighbours
        self.shrink = shrink

    def fit(self, data: SequenceData) -> ItemKNN:
        start = self._start_fit(data)
        matrix = train_matrix(data)  # (U, I+1)
        transposed = matrix.T.to_sparse()  # (I+1, U) sparse: co-occurrence costs nnz·C, not U·I·C
        norms = matrix.sum(dim=0).sqrt()  # (I+1,)
        n_columns = matrix.shape[1]
        k = min(self.k_neighbours, n_columns - 1)
        rows, cols, values = [], [], []
        for first in range(0, n_columns, _CHUNK):
            block = torch.arange(first, min(first + _CHUNK, n_columns))  # (C,)
            overlap = torch.sparse.mm(transposed, matrix[:, block].contiguous())  # (I+1, C) co-occurrences
            overlap = overlap.T.contiguous()  # (C, I+1); contiguous rows make topk several times faster
            denominator = torch.outer(norms[block], norms).add_(self.shrink).clamp_min_(1e-12)  # (C, I+1)
            similarity = overlap.div_(denominator)  # (C, I+1) cosine with shrinkage
            similarity[torch.arange(len(block)), block] = 0.0  # an item is not its own neighbour
            top_values, top_items = torch.topk(similarity, k=k, dim=1)  # (C, k)
            keep = top_values > 0
            rows.append(block.unsqueeze(1).expand(-1, k)[keep])
            cols.append(top_items[keep])
            values.append(top_values[keep])
        indices = torch.stack([torch.cat(rows), torch.cat(cols)])  # (2, nnz): candidate j, neighbour i
        shape = (n_columns, n_columns)
        neighbours = torch.sparse_coo_tensor(indices, torch.cat(values), shape, check_invariants=True)  # (I+1, I+1)
        self.neighbours = neighbours.coalesce()
        self.fit_seconds = time.perf_counter() - start
        return self

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        self._check(data)
        seen = history_mask(data, users, split).float()  # (B, I+1)
        return torch.sparse.mm(self.neighbours, seen.T).T  # (B, I+1)


class EASE(_Fitted):
    """Closed-form linear item-item model: B = I - P diag(1/diag P), P = (XᵀX + l2·I)⁻¹, diag(B) = 0.

    Scores are history @ B. When there are fewer users than items (movielens-small: 610 vs 9,724) P is
    never built: the Woodbury identity P = (I - Xᵀ (l2·I + XXᵀ)⁻¹ X) / l2 needs only a U×U inverse,
    so fitting takes about a second instead of a ~40 s 9.7k×9.7k inverse, and memory stays O(U·I).

    l2 from a validation sweep on movielens-small (NDCG@10; one standard error is about 0.006):
    5 0.038, 10 0.041, 20 0.043, 30 0.043, 50 0.045 (chosen), 100 0.044, 200 0.043, 500 0.040,
    1000 0.036, 5000 0.029. Larger values lean towards popular items (popularity@10 98.4 -> 99.6).
    """

    def __init__(self, l2: float = 50.0) -> None:
        if l2 <= 0:
            raise ValueError(f"l2 must be positive, got {l2}")
        self.l2 = l2

    def fit(self, data: SequenceData) -> EASE:
        start = self._start_fit(data)
        matrix = train_matrix(data, torch.float64)  # (U, I+1)
        n_users, n_columns = matrix.shape
        if n_users < n_columns:
            gram_users = matrix @ matrix.T + self.l2 * torch.eye(n_users, dtype=torch.float64)  # (U, U)
            self.user_factors = torch.linalg.solve(gram_users, matrix)  # (U, I+1) = (l2·I + XXᵀ)⁻¹ X
            self.matrix = matrix
            p_diagonal = (1.0 - (matrix * self.user_factors).sum(dim=0)) / self.l2  # (I+1,)
            self.weights = None
        else:
            gram_items = matrix.T @ matrix + self.l2 * torch.eye(n_columns, dtype=torch.float64)  # (I+1, I+1)
            inverse = torch.linalg.inv(gram_items)  # (I+1, I+1) = P
            p_diagonal = torch.diagonal(inverse)  # (I+1,)
            identity = torch.eye(n_columns, dtype=torch.float64)  # (I+1, I+1)
            self.weights = identity - inverse / p_diagonal.unsqueeze(0)  # (I+1, I+1)
        self.p_diagonal = p_diagonal
        self.fit_seconds = time.perf_counter() - start
        return self

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        self._check(data)
        seen = history_mask(data, users, split).double()  # (B, I+1)
        if self.weights is not None:
            return seen @ self.weights  # (B, I+1)
        seen_times_p = (seen - (seen @ self.matrix.T) @ self.user_factors) / self.l2  # (B, I+1) = seen @ P
        return seen - seen_times_p / self.p_diagonal.unsqueeze(0)  # (B, I+1) = seen @ (I - P diag(1/diag P))


class BPRMF(_Fitted):
    """Matrix factorisation trained with the BPR pairwise loss and uniformly sampled negatives.

    Users are their learned embeddings (transductive): the validation item that 'test' adds to the
    history is masked at scoring time but does not move the user vector.

    Validation sweep on movielens-small (NDCG@10, dim 64, lr 0.01, l2 1e-4 unless noted; SE about
    0.005): 5 epochs 0.018, 10 0.023, 20 0.025 (chosen), 30 0.020; l2 1e-3 at 20 epochs 0.023;
    lr 0.02 at 10 epochs 0.020; batch 8192 / lr 0.03 0.023. It stays closer to popularity than
    item-kNN and EASE do on 610 users."""

    def __init__(
        self,
        dim: int = 64,
        epochs: int = 20,
        lr: float = 0.01,
        l2: float = 1e-4,
        batch_size: int = 2048,
        seed: int = 42,
    ) -> None:
        if dim < 1 or epochs < 1 or batch_size < 1 or lr <= 0 or l2 < 0:
            raise ValueError("dim, epochs and batch_size must be >= 1, lr > 0 and l2 >= 0")
        self.dim, self.epochs, self.lr, self.l2 = dim, epochs, lr, l2
        self.batch_size, self.seed = batch_size, seed

    def fit(self, data: SequenceData) -> BPRMF:
        start = self._start_fit(data)
        generator = torch.Generator().manual_seed(self.seed)
        pairs = train_matrix(data).nonzero()  # (nnz, 2): row = user - 1, column = item
        users, items = pairs[:, 0] + 1, pairs[:, 1]  # (nnz,)
        user_init = 0.1 * torch.randn(data.n_users + 1, self.dim, generator=generator)  # (U+1, D)
        item_init = 0.1 * torch.randn(data.n_items + 1, self.dim, generator=generator)  # (I+1, D)
        self.user_vectors = torch.nn.Parameter(user_init)  # (U+1, D)
        self.item_vectors = torch.nn.Parameter(item_init)  # (I+1, D)
        self.item_bias = torch.nn.Parameter(torch.zeros(data.n_items + 1))  # (I+1,)
        with _one_thread():
            self._train(users, items, data.n_items, generator)
        self.fit_seconds = time.perf_counter() - start
        return self

    def _train(self, users: torch.Tensor, items: torch.Tensor, n_items: int, generator: torch.Generator) -> None:
        optimiser = torch.optim.Adam([self.user_vectors, self.item_vectors, self.item_bias], lr=self.lr)
        for _ in range(self.epochs):
            order = torch.randperm(len(users), generator=generator)
            for first in range(0, len(order), self.batch_size):
                batch = order[first : first + self.batch_size]  # (B,)
                positives = items[batch]  # (B,)
                negatives = torch.randint(1, n_items + 1, (len(batch),), generator=generator)  # (B,)
                user = self.user_vectors[users[batch]]  # (B, D)
                positive, negative = self.item_vectors[positives], self.item_vectors[negatives]  # (B, D)
                bias_gap = self.item_bias[positives] - self.item_bias[negatives]  # (B,)
                margin = (user * (positive - negative)).sum(1) + bias_gap  # (B,)
                penalty = user.pow(2).sum(1) + positive.pow(2).sum(1) + negative.pow(2).sum(1)  # (B,)
                loss = -torch.nn.functional.logsigmoid(margin).mean() + self.l2 * penalty.mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()

    @torch.no_grad()
    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        self._check(data)
        user = self.user_vectors[torch.from_numpy(np.asarray(users, dtype=np.int64))]  # (B, D)
        return user @ self.item_vectors.T + self.item_bias.unsqueeze(0)  # (B, I+1)


BASELINES: dict[str, type] = {"pop": MostPopular, "itemknn": ItemKNN, "ease": EASE, "bpr": BPRMF}


def fit_baseline(name: str, data: SequenceData, **params: float | int) -> Scorer:
    """Build the baseline called `name` (pop, itemknn, ease, bpr) with `params` and fit it on `data`."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    try:
        baseline = BASELINES[name](**params)
    except TypeError as error:
        raise ValueError(f"baseline {name!r}: {error}") from None
    return baseline.fit(data)
