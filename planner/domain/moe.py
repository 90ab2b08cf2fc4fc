"""Mixture-of-experts weight traffic: which share of the routed experts a decode step reads."""

from __future__ import annotations

import numpy as np


def experts_touched(experts: int, per_token: int, tokens):
    """Expected distinct experts a layer runs for `tokens` tokens routed independently and
    uniformly, `per_token` each: E * (1 - (1 - k/E)^B)."""
    return experts * (1 - (1 - per_token / experts) ** np.asarray(tokens, dtype=float))


def expert_share_read(experts: int, per_token: int, tokens):
    """Share of the routed experts' weights read in one step of `tokens` tokens."""
    return experts_touched(experts, per_token, tokens) / experts
