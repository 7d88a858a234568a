"""Device choice: CUDA when present, then Apple's MPS, then the CPU; and why a device is not offered."""

from __future__ import annotations

import torch


def _cuda_status() -> str | None:
    """None when CUDA can be used, else why not."""
    if torch.version.cuda is None:
        return "CUDA not offered: this torch build has no CUDA support"
    if not torch.cuda.is_available():
        return "CUDA not offered: this torch build supports CUDA, but no CUDA device (or driver) was found"
    return None


def device_choices() -> tuple[list[str], list[str]]:
    """(usable devices, best first; one line per device that is not offered, saying why)."""
    choices, why_not = [], []
    cuda = _cuda_status()
    if cuda is None:
        choices.append("cuda")
    else:
        why_not.append(cuda)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        choices.append("mps")
    elif mps is not None and mps.is_built():  # an Apple build without a usable device (elsewhere: nothing to say)
        why_not.append("MPS not offered: this torch build supports Apple's MPS, but this Mac has no usable MPS device")
    return choices + ["cpu"], why_not


def available_devices() -> list[str]:
    return device_choices()[0]


def default_device() -> str:
    return available_devices()[0]


def resolve_device(name: str | None) -> torch.device:
    """``name`` if usable here, else the default; a device this machine lacks is an error that says why."""
    if name is None or name == "auto":
        return torch.device(default_device())
    if name.startswith("cuda") and (why := _cuda_status()) is not None:
        raise ValueError(f"{why}; use 'cpu'")
    if name == "mps" and "mps" not in available_devices():
        raise ValueError("MPS was requested but is not available on this machine; use 'cpu'")
    return torch.device(name)
