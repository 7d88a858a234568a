"""Device choice: CUDA, then MPS, then the CPU, and a reason for each device that is not offered."""

import pytest
import torch

from explorer import device


def test_a_cuda_build_without_a_device_says_so(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    choices, why = device.device_choices()
    assert choices[-1] == "cpu" and "cuda" not in choices
    assert any("supports CUDA, but no CUDA device" in w for w in why)
    with pytest.raises(ValueError, match="no CUDA device"):
        device.resolve_device("cuda")


def test_a_build_without_cuda_says_so(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    choices, why = device.device_choices()
    assert choices == ["cpu"] or choices == ["mps", "cpu"]
    assert any("no CUDA support" in w for w in why)


def test_cuda_and_mps_are_offered_first_when_present(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.device_choices() == (["cuda", "mps", "cpu"], [])
    assert device.default_device() == "cuda"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    choices, why = device.device_choices()
    assert choices == ["cuda", "cpu"] and any("no usable MPS device" in w for w in why)
