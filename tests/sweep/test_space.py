"""Search spaces: the command-line and file forms, and their checks against TrainConfig and ModelSpec."""

import json

import optuna
import pytest

from imgclass.errors import ImgclassError
from imgclass.sweep import Param, default_space, parse_space
from imgclass.sweep.space import apply, space_from_dict, space_to_dict, validate
from tests.sweep.conftest import tiny_config


def test_every_kind_parses_from_the_command_line_form():
    space = parse_space(["lr=loguniform:1e-4:1e-1", "momentum=uniform:0.8:0.99", "epochs=int:2:8:2",
                         "model.hidden=logint:32:512", "batch_size=categorical:64,128,256",
                         "optimizer=categorical:adam,sgd", "flip=categorical:true,false"])
    assert space == [Param("lr", "loguniform", 1e-4, 0.1), Param("momentum", "uniform", 0.8, 0.99),
                     Param("epochs", "int", 2, 8, 2), Param("model.hidden", "logint", 32, 512),
                     Param("batch_size", "categorical", choices=(64, 128, 256)),
                     Param("optimizer", "categorical", choices=("adam", "sgd")),
                     Param("flip", "categorical", choices=(True, False))]
    assert [parse_space([p.to_text()])[0] for p in space] == space  # the text form round-trips


def test_a_space_file_takes_text_lists_and_objects_and_round_trips(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"lr": "loguniform:1e-4:1e-1", "batch_size": [64, 128],
                                "weight_decay": {"type": "loguniform", "low": 1e-6, "high": 1e-2},
                                "model.hidden": ["64", "128,64"]}))
    space = parse_space(["epochs=int:1:3"], file=path)
    assert [p.name for p in space] == ["lr", "batch_size", "weight_decay", "model.hidden", "epochs"]
    assert space_from_dict(space_to_dict(space)) == space


@pytest.mark.parametrize("entry, message", [
    ("lr", "expected NAME=KIND:ARGS"),
    ("lr=normal:0:1", "kind must be one of"),
    ("lr=loguniform:0:1", "low bound > 0"),
    ("lr=uniform:1:0.5", "low must be < high"),
    ("lr=uniform:a:1", "expected a number"),
    ("epochs=int:1.5:3", "bounds must be integers"),
    ("lr=uniform:0:1:2", "expected uniform:LOW:HIGH"),
    ("batch_size=categorical:", "at least one value"),
    ("batch_size=categorical:64,64", "repeated choices"),
])
def test_malformed_entries_are_errors_that_say_what_is_wrong(entry, message):
    with pytest.raises(ImgclassError, match=message):
        parse_space([entry])


def test_file_errors_and_duplicates(tmp_path):
    with pytest.raises(ImgclassError, match="no such file"):
        parse_space(file=tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{lr:")
    with pytest.raises(ImgclassError, match="not valid JSON"):
        parse_space(file=tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ImgclassError, match="JSON object"):
        parse_space(file=tmp_path / "list.json")
    with pytest.raises(ImgclassError, match="lr given more than once"):
        parse_space(["lr=uniform:0.1:1", "lr=uniform:0.2:1"])


@pytest.mark.parametrize("entry, message", [
    ("learning_rate=loguniform:1e-4:1e-1", "unknown name 'learning_rate'"),
    ("seed=int:0:9", "seed cannot be searched"),
    ("val=uniform:0.1:0.2", "val cannot be searched"),
    ("dataset=categorical:digits,mnist", "dataset cannot be searched"),
    ("batch_size=loguniform:16:256", "batch_size takes integers"),
    ("optimizer=uniform:0:1", "takes words or true/false"),
    ("optimizer=categorical:adam,lion", "optimizer='lion' is not a valid setting"),
    ("lr=uniform:-1:1", "lr=-1 is not a valid setting"),
    ("model.channels=int:8:32", "model.channels does not apply to mlp models"),
    ("model.dropout=uniform:0:1", "model.dropout=1 is not a valid setting"),
    ("model.hidden=uniform:16:64", "model.hidden takes integers"),
])
def test_names_and_ranges_are_checked_against_the_config_and_the_model(entry, message):
    with pytest.raises(ImgclassError, match=message):
        validate(parse_space([entry]), tiny_config())


def test_an_empty_space_is_an_error_and_the_default_is_lr_and_weight_decay_around_the_recipe():
    with pytest.raises(ImgclassError, match="search space is empty"):
        validate([], tiny_config())
    cfg = tiny_config(lr=3e-3)
    space = default_space(cfg)
    assert [(p.name, p.kind) for p in space] == [("lr", "loguniform"), ("weight_decay", "loguniform")]
    assert space[0].low == pytest.approx(3e-4) and space[0].high == pytest.approx(3e-2)
    validate(space, cfg)


def test_apply_sets_training_fields_and_model_fields():
    cfg = apply(tiny_config(), {"lr": 0.01, "batch_size": 32, "model.hidden": 64, "model.dropout": 0.25})
    assert cfg.lr == 0.01 and cfg.batch_size == 32
    assert cfg.model.kind == "mlp" and cfg.model.hidden == (64,) and cfg.model.dropout == 0.25
    two_layers = apply(tiny_config(), {"model.hidden": "128,64"})
    assert two_layers.model.hidden == (128, 64)


def test_suggest_gives_the_trial_s_values_and_grid_points_stay_in_range():
    trial = optuna.trial.FixedTrial({"lr": 0.01, "epochs": 3, "batch_size": 128})
    space = parse_space(["lr=loguniform:1e-4:1e-1", "epochs=int:1:5", "batch_size=categorical:64,128"])
    assert {p.name: p.suggest(trial) for p in space} == {"lr": 0.01, "epochs": 3, "batch_size": 128}
    lr, epochs, bs = space
    assert lr.grid(4) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1]) and 1e-4 <= min(lr.grid(4)) <= max(lr.grid(4)) <= 0.1
    assert epochs.grid(3) == [1, 3, 5] and bs.grid(3) == [64, 128]
    assert Param("model.hidden", "logint", 32, 512).grid(5) == [32, 64, 128, 256, 512]
    assert Param("epochs", "int", 2, 10, 4).grid(5) == [2, 6, 10]
