"""Small torch modules for the capture tests, in an importable module (imported only by tests that use torch)."""

from __future__ import annotations

from typing import Any

import torch


class Tied(torch.nn.Module):
    """A module shared under two names (one tensor, two state_dict keys) and a data-dependent branch."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.enc = torch.nn.Linear(3, width, bias=False)
        self.dec = torch.nn.Linear(width, 3, bias=False)
        self.tie = torch.nn.Linear(width, width, bias=False)
        self.tie2 = self.tie

    def forward(self, x: Any) -> Any:
        h = self.tie2(self.enc(x))
        return self.dec(h if h.sum() > 0 else -h)
