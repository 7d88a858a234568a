"""Device choice: CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    return (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]


def default_device() -> str:
    return available_devices()[0]


def resolve_device(name: str | None) -> torch.device:
    """``name`` if usable here, else the default; 'cuda' on a machine without CUDA is an error."""
    if name is None or name == "auto":
        return torch.device(default_device())
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA device is available on this machine; use 'cpu'")
    return torch.device(name)
