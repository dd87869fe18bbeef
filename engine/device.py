"""Where tensors live: CUDA when it is available, the CPU otherwise, with no code change elsewhere."""

from __future__ import annotations

import os

import torch


def pick_device() -> torch.device:
    """CUDA if present (and not disabled with RECSCOPE_DEVICE=cpu), else the CPU."""
    wanted = os.environ.get("RECSCOPE_DEVICE", "").strip().lower()
    if wanted == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
