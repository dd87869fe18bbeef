"""Scoring users with a trained model: histories from the split, the whole catalogue at once.

`ModelScorer` is the adapter that lets evaluation treat the attention model exactly like a baseline.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.batching import left_pad
from engine.dataset import SequenceData
from engine.model import AttentionRecommender


def history_tensor(model: AttentionRecommender, histories: list[np.ndarray]) -> torch.Tensor:
    """(B, T) left-padded history ids on the model's device, T <= max_len.

    Columns that are padding in every row are dropped: the encoder right-aligns position embeddings,
    so a shorter window gives exactly the same scores and costs proportionally less."""
    device = next(model.parameters()).device
    padded = left_pad(histories, model.config.max_len)
    longest = max((min(len(h), model.config.max_len) for h in histories), default=0)
    return torch.from_numpy(padded[:, model.config.max_len - max(longest, 1) :]).to(device)


class ModelScorer:
    """Scores (B, I+1) for users under a split; uses the same history the metrics mask."""

    def __init__(self, model: AttentionRecommender) -> None:
        self.model = model

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            histories = [data.history(int(u), split) for u in users]
            return self.model.score_all(history_tensor(self.model, histories))
        finally:
            self.model.train(was_training)
