"""TrainConfig: typed, validated, unknown keys refused."""

import pytest

from imgclass.errors import ImgclassError
from imgclass.train import TrainConfig


def test_round_trip_through_a_dict():
    cfg = TrainConfig(dataset="digits", lr=0.01, flip=True)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ImgclassError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


@pytest.mark.parametrize("bad", [dict(lr=0), dict(lr=float("nan")), dict(epochs=0), dict(batch_size=-1),
                                 dict(optimizer="lbfgs"), dict(engine="jax"), dict(weight_decay=-1),
                                 dict(train_fraction=0), dict(label_smoothing=1.0), dict(patience=1.5),
                                 dict(engine="numpy", jitter=0.1), dict(engine="numpy", device="cuda"),
                                 dict(ema=1.0), dict(ema=-0.1), dict(engine="numpy", ema=0.99)])
def test_bad_values_are_refused_with_a_clear_message(bad):
    with pytest.raises(ImgclassError):
        TrainConfig(**bad)
