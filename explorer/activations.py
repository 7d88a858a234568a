"""Activations: every named layer's output on a set of inputs, via forward hooks."""

from __future__ import annotations

import numpy as np
import torch


def extract_activations(
    model: torch.nn.Module,
    x: torch.Tensor,
    layers: list[str] | None = None,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    include_input: bool = False,
    transform=None,
    reduce=None,
) -> dict[str, torch.Tensor]:
    """``{layer: Tensor}`` for the model's named layers (or ``layers``), in depth order.

    Runs batched in eval mode without gradients on ``device`` (default: the model's) and returns
    each output as it is, on that device: [N, D] for dense layers, [N, C, H, W] for convolutional
    ones (the channel axis is kept, as the G_ReLU measures need; ``X.flatten(1)`` gives the usual
    [N, D]). ``include_input`` adds the input itself as ``"input"`` (layer 0 of the analyses).
    ``transform`` maps each input batch before the forward pass (resizing, normalising); ``reduce``
    maps each captured output (pooling a large feature map) before it is kept.
    """
    names = list(layers) if layers is not None else list(model.layer_names)
    unknown = [n for n in names if n not in dict(model.named_modules())]
    if unknown:
        raise ValueError(f"model has no layer(s) {', '.join(unknown)}; it has {', '.join(model.layer_names)}")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(dev)
    store: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hooks = []
    # A hook may fire twice per forward: relative models encode the batch, then their anchors.
    # The batch is always encoded first, so the first call of each layer is the one kept.
    current: dict = {"seen": {}}

    def make_hook(name):
        def hook(_mod, _inp, out):
            if name not in current["seen"]:
                out = out[0] if isinstance(out, tuple) else out
                current["seen"][name] = (reduce(out) if reduce is not None else out).detach()

        return hook

    for n in names:
        hooks.append(model.get_submodule(n).register_forward_hook(make_hook(n)))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = x[i : i + batch_size].to(dev)
                if transform is not None:
                    xb = transform(xb)
                current["seen"] = {}
                model(xb)
                for n in names:
                    store[n].append(current["seen"][n])
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    out = {n: torch.cat(v) for n, v in store.items()}
    empty = [n for n, v in out.items() if v[0].numel() == 0]
    if empty:
        raise ValueError(f"layer(s) {', '.join(empty)} have zero width: nothing to analyse")
    if include_input:
        out = {"input": x.to(dev).float(), **out}
    return out


def probe_activations(model, ck, probe, cache=None, include_input: bool = True, layer_names=None) -> dict[str, np.ndarray]:
    """Activations of checkpoint ``ck`` (already loaded as ``model``) on ``probe``, through the disk cache.

    The key is the checkpoint's content hash plus dataset, split and probe indices, so any change
    of weights or samples is a new entry. Returns numpy arrays in the model's layer order.
    ``model`` may also be a function that loads it, called only on a cache miss; ``layer_names``
    then gives the order.
    """
    parts = {"model": ck.sha256, "dataset": probe.dataset, "split": probe.split, "indices": probe.indices}
    lazy = not isinstance(model, torch.nn.Module)

    def compute():
        return extract_activations(model() if lazy else model, probe.x, include_input=include_input)

    # "-2": entries keep each layer's own shape (earlier ones were flattened)
    value = cache.memoize("activations-2", parts, compute) if cache is not None else {k: v.cpu().numpy() for k, v in compute().items()}
    order = (["input"] if include_input else []) + list(layer_names if layer_names is not None else model.layer_names)
    return {k: value[k] for k in order}
