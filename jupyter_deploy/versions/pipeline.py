"""The notebook's pipeline (``preprocess`` -> ``predict`` -> ``postprocess``) run outside the model server:
on ``example_input`` at export (the parity reference), on the reference data for the monitoring profile, and in
the reference process of a static export. It runs as the served predictor runs it: under
``torch.inference_mode`` when the notebook loaded torch, so outputs (and the inputs torch modules record) match.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from typing import Any

from ..records import Deployment

PIPELINE_ROLES = ("preprocess", "predict", "postprocess")


def pipeline_roles(deployment: Deployment) -> list[str]:
    """The deployment's pipeline functions, in the order a request goes through them."""
    return [role for role in PIPELINE_ROLES if deployment.role(role)]


def run_steps(steps: Iterable[Any], value: Any) -> Any:
    """``value`` through ``steps`` in order, without autograd when torch is loaded."""
    torch = sys.modules.get("torch")
    with torch.inference_mode() if torch is not None else contextlib.nullcontext():
        for step in steps:
            value = step(value)
    return value
