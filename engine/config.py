"""Typed settings for the model, training and evaluation.

Defaults live here once; entry points (CLI, dashboard, tests) build these objects and the engine only
reads them. `from_dict` rejects unknown keys so a checkpoint or a form can never smuggle in a typo.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

SCORER_NAMES = ("dot", "additive", "sigmoid")

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is unknown, of the wrong type, or out of range."""


def _from_dict(cls: type[T], values: dict[str, Any]) -> T:
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")
    converted = {}
    for name, value in values.items():
        expected = known[name].type
        if expected in ("int", int) and isinstance(value, bool):
            raise ConfigError(f"{cls.__name__}.{name} must be an integer, got {value!r}")
        if expected in ("int", int) and not isinstance(value, int):
            raise ConfigError(f"{cls.__name__}.{name} must be an integer, got {value!r}")
        if expected in ("float", float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected in ("float", float) and not isinstance(value, float):
            raise ConfigError(f"{cls.__name__}.{name} must be a number, got {value!r}")
        if expected in ("bool", bool) and not isinstance(value, bool):
            raise ConfigError(f"{cls.__name__}.{name} must be true or false, got {value!r}")
        if expected in ("str", str) and not isinstance(value, str):
            raise ConfigError(f"{cls.__name__}.{name} must be text, got {value!r}")
        converted[name] = value
    return cls(**converted)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the attention recommender; stored in every checkpoint so loading never guesses."""

    scorer: str = "dot"  # target-attention scorer: dot (scaled, softmax), additive (Bahdanau), sigmoid (DIN, unnormalised)
    embed_dim: int = 64  # width of item, feature and history vectors
    n_layers: int = 0  # causal self-attention blocks (0 = item vectors + positions; on movielens-small 0 beat 1 on validation, docs/experiments)
    n_heads: int = 2  # heads per self-attention block; must divide embed_dim
    max_len: int = 50  # most recent interactions the user representation looks at
    dropout: float = 0.2  # on embeddings and inside the blocks (why: ML-small has only 610 users)
    use_features: bool = True  # add attention-pooled attribute embeddings to each item's id embedding

    def __post_init__(self) -> None:
        if self.scorer not in SCORER_NAMES:
            raise ConfigError(f"scorer must be one of {', '.join(SCORER_NAMES)}, got {self.scorer!r}")
        if not 8 <= self.embed_dim <= 1024:
            raise ConfigError(f"embed_dim must be between 8 and 1024, got {self.embed_dim}")
        if not 0 <= self.n_layers <= 8:
            raise ConfigError(f"n_layers must be between 0 and 8, got {self.n_layers}")
        if self.n_heads < 1 or self.embed_dim % self.n_heads:
            raise ConfigError(f"n_heads ({self.n_heads}) must be positive and divide embed_dim ({self.embed_dim})")
        if not 2 <= self.max_len <= 1000:
            raise ConfigError(f"max_len must be between 2 and 1000, got {self.max_len}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """How to fit a model; early stopping looks at validation NDCG@10 only, never at the test targets."""

    epochs: int = 50  # length of the cosine schedule; ~4.4 CPU-minutes on movielens-small (see docs/experiments)
    batch_size: int = 64  # training windows per step (why: 610 users give few steps per epoch; more updates help)
    lr: float = 3e-3  # Adam peak learning rate
    weight_decay: float = 0.0  # Adam L2 term
    lr_schedule: str = "cosine"  # one epoch of linear warm-up, then cosine decay over `epochs` ("constant": none)
    n_negatives: int = 256  # sampled negatives per step for the sampled-softmax loss (shared across the batch)
    negative_power: float = 0.5  # negatives drawn ~ train count**power (0 = uniform), log-Q corrected (why: harder negatives)
    patience: int = 4  # validation checks without improvement before stopping (validation NDCG is noisy early)
    eval_every: int = 5  # epochs between validation checks (a full-ranking check costs about one epoch)
    seed: int = 42  # seeds torch, numpy and the batch order
    threads: int = 2  # torch intra-op threads (the target machine has 2 cores)
    valid_users: int = 10_000  # users ranked per validation check: a fixed seeded sample when more have a target (0 = all)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 < self.lr < 1.0:
            raise ConfigError(f"lr must be in (0, 1), got {self.lr}")
        if self.n_negatives < 1:
            raise ConfigError(f"n_negatives must be at least 1, got {self.n_negatives}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if not 0.0 <= self.negative_power <= 1.0:
            raise ConfigError(f"negative_power must be in [0, 1], got {self.negative_power}")
        if self.patience < 1 or self.eval_every < 1 or self.threads < 1:
            raise ConfigError("patience, eval_every and threads must be at least 1")
        if self.valid_users < 0:
            raise ConfigError(f"valid_users must be 0 (all) or positive, got {self.valid_users}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalConfig:
    """Full-ranking evaluation: every catalogue item is a candidate, the user's seen items are masked."""

    ks: tuple[int, ...] = field(default=(10, 20))
    split: str = "test"  # "valid" during training, "test" for reporting
    batch_size: int = 256  # users scored at once

    def __post_init__(self) -> None:
        if self.split not in ("valid", "test"):
            raise ConfigError(f"split must be 'valid' or 'test', got {self.split!r}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ConfigError(f"ks must be positive, got {self.ks}")
