import pytest
import torch

from explorer.train import TrainConfig, TrainingCancelled, train, train_and_save


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_same_weights_other_seed_other_weights():
    cfg = TrainConfig("digits", "mlp_ae", seed=5, epochs=2, hparams={"latent": 2})
    a, _ = train(cfg)
    b, _ = train(cfg)
    c, _ = train(TrainConfig("digits", "mlp_ae", seed=6, epochs=2, hparams={"latent": 2}))
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["encoder.fc1.weight"], wc["encoder.fc1.weight"])


def test_progress_reaches_the_end_and_training_learns():
    seen = []
    model, meta = train(TrainConfig("digits", "mlp_clf", seed=0, epochs=6, hparams={"hidden": [64]}), progress=seen.append)
    steps = [p.step for p in seen]
    assert steps == sorted(steps) and seen[-1].step == seen[-1].total == 6 * 12  # 1438 / 128 -> 12 steps
    assert seen[-1].fraction == 1.0
    assert meta["metrics"]["test"]["accuracy"] > 0.85
    assert meta["train"]["epoch_loss"][0] > meta["train"]["epoch_loss"][-1]


def test_cancel_stops_and_writes_nothing(tmp_path):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(TrainingCancelled, match="cancelled at step 5"):
        train_and_save(TrainConfig("digits", "mlp_ae", epochs=50), tmp_path, should_stop=stop)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "cfg, msg",
    [
        (TrainConfig("digits", "mlp_ae", epochs=0), "epochs"),
        (TrainConfig("digits", "unet"), "unknown architecture"),
        (TrainConfig("digits", "mlp_ae", hparams={"depth": 3}), "no hyperparameter 'depth'"),
        (TrainConfig("nope", "mlp_ae"), "unknown dataset"),
    ],
)
def test_bad_configs_are_refused_with_a_reason(cfg, msg):
    with pytest.raises(ValueError, match=msg):
        train(cfg)
