import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from explorer.alignment import activation_matching, apply_permutation, check_pair, perm_spec, weight_matching
from explorer.charts import animation_gif
from explorer.checkpoint import load_checkpoint, read_sidecar
from explorer.data import load_split
from explorer.interpolation import (
    barriers, frames_2d, latent_strips, lerp, path_curve, path_latents, slerp,
)
from explorer.zoo import ZOO_DIR


def _load(name):
    return load_checkpoint(ZOO_DIR / f"{name}.json")[0]


def _random_perms(spec, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {p: torch.randperm(n, generator=g) for p, n in spec.sizes.items()}


@pytest.mark.parametrize("name", ["digits-mlp_clf-s0", "digits-cnn_clf-s0"])
def test_permuting_hidden_units_keeps_the_function(name):
    a, b = _load(name), _load(name)
    spec = perm_spec(a)
    perms = _random_perms(spec)
    b.load_state_dict(apply_permutation(a.state_dict(), spec, perms))
    x = load_split("digits", "test").x
    assert not torch.equal(a.body[0].weight, b.body[0].weight)
    assert torch.allclose(a(x), b(x), atol=1e-5)


@pytest.mark.parametrize("name", ["digits-mlp_clf-s0", "digits-cnn_clf-s1"])
def test_weight_matching_recovers_a_hidden_permutation_and_the_barrier_vanishes(name):
    a = _load(name)
    spec = perm_spec(a)
    perms = _random_perms(spec, 1)
    permuted = apply_permutation(a.state_dict(), spec, perms)
    found = weight_matching(a.state_dict(), permuted, spec)
    back = apply_permutation(permuted, spec, found)
    assert all(torch.equal(back[k], v) for k, v in a.state_dict().items())
    for p in perms:  # found undoes perms exactly: perms[found] is the identity
        assert torch.equal(perms[p][found[p]], torch.arange(spec.sizes[p]))
    te = load_split("digits", "test")
    curve = path_curve(a, a.state_dict(), back, {"test": (te.x, te.y)}, np.linspace(0, 1, 5))
    b = barriers(curve)
    for name in ("Git Re-Basin", "Entezari et al."):
        assert abs(b[f"loss barrier ({name})"].item()) < 1e-6 and abs(b[f"accuracy barrier ({name})"].item()) < 1e-9



def test_activation_matching_recovers_the_permutation_of_every_live_unit():
    from explorer.activations import extract_activations

    a, b = _load("digits-mlp_clf-s0"), _load("digits-mlp_clf-s0")
    spec = perm_spec(a)
    perms = _random_perms(spec, 2)
    b.load_state_dict(apply_permutation(a.state_dict(), spec, perms))
    x = load_split("digits", "test").x
    found = activation_matching(a, b, x, spec)
    acts = extract_activations(a, x, list(spec.acts.values()))
    for p, layer in spec.acts.items():
        live = acts[layer].std(0) > 0  # dead units (always 0) cannot be told apart
        assert live.sum() > 50
        assert torch.equal(perms[p][found[p]][live], torch.arange(spec.sizes[p])[live])


def test_alignment_removes_most_of_the_barrier_between_two_digits_mlps():
    a, b = _load("digits-mlp_clf-s0"), _load("digits-mlp_clf-s1")
    tr, te = load_split("digits", "train"), load_split("digits", "test")
    splits = {"train": (tr.x, tr.y), "test": (te.x, te.y)}
    spec = perm_spec(a)
    aligned = apply_permutation(b.state_dict(), spec, weight_matching(a.state_dict(), b.state_dict(), spec, seed=0))
    alphas = np.linspace(0, 1, 11)
    curve = pd.concat([
        path_curve(a, a.state_dict(), b.state_dict(), splits, alphas).assign(path="naive"),
        path_curve(a, a.state_dict(), aligned, splits, alphas).assign(path="aligned"),
    ])
    bar = barriers(curve).set_index(["path", "split"])
    naive, good = bar["loss barrier (Git Re-Basin)"]["naive"], bar["loss barrier (Git Re-Basin)"]["aligned"]
    for split in ("train", "test"):
        assert naive[split] > 0.4 and good[split] < 0.05 and good[split] < naive[split] / 10


def test_barrier_formula_on_a_known_curve():
    a = np.linspace(0, 1, 5)
    curve = pd.DataFrame({"alpha": a, "split": "test", "loss": [1.0, 2.0, 3.0, 2.0, 2.0], "accuracy": [0.9, 0.8, 0.5, 0.7, 0.7]})
    b = barriers(curve).iloc[0]
    assert b["loss barrier (Entezari et al.)"] == pytest.approx(3.0 - 1.5)  # line from 1 to 2 at alpha 0.5 is 1.5
    assert b["loss barrier (Git Re-Basin)"] == pytest.approx(3.0 - (1.0 + 2.0) / 2)  # the end points' mean
    assert b["accuracy barrier (Entezari et al.)"] == pytest.approx(0.8 - 0.5)
    assert b["accuracy barrier (Git Re-Basin)"] == pytest.approx((0.9 + 0.7) / 2 - 0.5)


def test_lerp_and_slerp():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    lin, sph = lerp(z0, z1, 5), slerp(z0, z1, 5)
    for path in (lin, sph):
        assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(sph.norm(dim=1), torch.linspace(1, 2, 5), atol=1e-6)  # norm interpolated
    angles = torch.atan2(sph[:, 1], sph[:, 0])
    assert torch.allclose(angles, torch.linspace(0, np.pi / 2, 5), atol=1e-6)  # constant angular speed
    assert torch.allclose(slerp(z0, 3 * z0, 3), lerp(z0, 3 * z0, 3))


def test_latent_strips_and_cross_model_decoding():
    te = load_split("digits", "test")
    a, b = _load("digits-rel_ae-l16-s0"), _load("digits-rel_ae-l16-s1")
    s = latent_strips(a, te.x[0], te.x[1], 7, b)
    assert set(s) == {"linear", "spherical", "A → B (relative)"} and all(v.shape == (7, 1, 8, 8) for v in s.values())
    assert torch.allclose(s["linear"][0], a(te.x[:1])[0], atol=1e-5)  # the end points are A's reconstructions
    # B decoding A's relative vectors reconstructs nearly as well as A itself
    own = float(((s["linear"][[0, -1]] - te.x[:2]) ** 2).mean())
    cross = float(((s["A → B (relative)"][[0, -1]] - te.x[:2]) ** 2).mean())
    assert cross < 3 * own + 0.01
    with pytest.raises(ValueError, match="autoencoder"):
        latent_strips(_load("digits-mlp_clf-s0"), te.x[0], te.x[1], 3)
    with pytest.raises(ValueError, match="two relative autoencoders"):
        latent_strips(a, te.x[0], te.x[1], 3, _load("digits-mlp_ae-l16-s0"))


def test_bad_pairs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="differ in architecture"):
        check_pair(read_sidecar(ZOO_DIR / "digits-mlp_clf-s0.json"), read_sidecar(ZOO_DIR / "digits-cnn_clf-s0.json"), "weight interpolation")
    with pytest.raises(ValueError, match="trained on digits and B on mnist"):
        check_pair(read_sidecar(ZOO_DIR / "digits-mlp_clf-s0.json"), read_sidecar(ZOO_DIR / "mnist-mlp_clf-s0.json"), "weight interpolation")
    with pytest.raises(ValueError, match="supports"):
        check_pair(read_sidecar(ZOO_DIR / "digits-vae-l16-s0.json"), read_sidecar(ZOO_DIR / "digits-vae-l16-s1.json"), "weight interpolation")


def test_animation_frames_share_axes_and_the_gif_has_every_frame():
    a, b = _load("digits-mlp_clf-s0"), _load("digits-mlp_clf-s1")
    x = load_split("digits", "test").x[:100]
    alphas = np.linspace(0, 1, 4)
    lat = path_latents(a, a.state_dict(), b.state_dict(), x, "body.relu3", alphas)
    assert lat.shape == (4, 100, 512)
    xy = frames_2d(lat)
    assert xy.shape == (4, 100, 2) and xy[0, :, 0].mean() == pytest.approx(0, abs=1e-6)  # PCA fitted on frame 0
    gif = animation_gif({"naive": xy, "aligned": xy}, np.arange(100) % 10, alphas)
    img = Image.open(io.BytesIO(gif))
    assert gif[:6] == b"GIF89a" and img.n_frames == 4 and img.size == (560, 300)
