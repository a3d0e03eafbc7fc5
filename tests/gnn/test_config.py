"""TrainConfig: validation names the field and the valid values; files and flags fill it."""

import argparse
import dataclasses
import json

import pytest

from gnn.config import TrainConfig
from ontologies.errors import ConfigError, DataNotFoundError, ParseError


def test_defaults_are_valid_and_resolve_fusion_per_model():
    cfg = TrainConfig()
    assert cfg.model == "hetero_sage" and cfg.fusion is None
    assert cfg.resolved_fusion == "gated"
    assert cfg.batch_size is None and cfg.num_neighbors == [10, 5]
    assert TrainConfig(model="mlp").resolved_fusion == "early"
    assert TrainConfig(model="mlp", fusion="late").resolved_fusion == "late"
    # an unset fusion follows the model through dataclasses.replace
    assert dataclasses.replace(cfg, model="mlp").resolved_fusion == "early"


@pytest.mark.parametrize("changes, words", [
    ({"model": "gnc"}, ["model='gnc'", "gcn", "hetero_sage", "mlp"]),
    ({"fusion": "mean"}, ["fusion='mean'", "early", "gated"]),
    ({"objective": "rank"}, ["objective='rank'", "multilabel", "link"]),
    ({"hidden": 0}, ["hidden=0", ">= 1"]),
    ({"dropout": 1.0}, ["dropout=1.0", "[0.0, 1.0)"]),
    ({"lr": 0}, ["lr=0.0", "(0.0"]),
    ({"epochs": 2.5}, ["epochs=2.5", "integer"]),
    ({"patience": 0}, ["patience=0"]),
    ({"num_neighbors": []}, ["num_neighbors"]),
    ({"num_neighbors": [10, -2]}, ["num_neighbors=-2", ">= -1"]),
    ({"inputs": ["labs"]}, ["labs", "demographics", "history_codes", "note"]),
    ({"inputs": ["note", "note"]}, ["twice"]),
    ({"model": "mlp", "inputs": []}, ["mlp", "at least one"]),
    ({"model": "gat", "hidden": 30, "heads": 4}, ["hidden=30", "heads=4"]),
    ({"objective": "link", "batch_size": 32}, ["link", "batch_size=None"]),
    ({"task": "mortality"}, ["task='mortality'", "comorbidity", "treatment"]),
    ({"progress": "maybe"}, ["progress='maybe'", "true or false"]),
])
def test_validation_names_field_and_choices(changes, words):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**changes)
    for word in words:
        assert word in str(err.value)


def test_string_values_from_files_are_coerced():
    cfg = TrainConfig.from_dict({"lr": "1e-3", "batch-size": "full", "patience": "none",
                                 "epochs": "7", "progress": "false"})
    assert cfg.lr == 0.001 and cfg.batch_size is None and cfg.patience is None
    assert cfg.epochs == 7 and cfg.progress is False


def test_yaml_and_json_files(tmp_path):
    yml = tmp_path / "run.yaml"
    yml.write_text("model: gat\nhidden: 32\nheads: 2\nlr: 1e-3\ninputs: [demographics, note]\n"
                   "batch_size: 64\nnum_neighbors: [5, 5]\n")
    cfg = TrainConfig.from_file(yml)
    assert (cfg.model, cfg.hidden, cfg.heads, cfg.lr) == ("gat", 32, 2, 0.001)
    assert cfg.inputs == ["demographics", "note"] and cfg.num_neighbors == [5, 5]
    saved = cfg.save(tmp_path / "run.json")
    assert TrainConfig.from_file(saved) == cfg
    assert json.loads(saved.read_text())["batch_size"] == 64


def test_unknown_keys_list_valid_settings(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: gcn\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_file(path)
    msg = str(err.value)
    assert "learning_rate" in msg and "bad.yaml" in msg
    assert "lr" in msg and "weight_decay" in msg and "num_neighbors" in msg


def test_file_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="nope.yaml"):
        TrainConfig.from_file(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: gcn\nhidden: [1, 2\n")
    with pytest.raises(ParseError) as err:
        TrainConfig.from_file(broken)
    assert "broken.yaml" in str(err.value) and err.value.line is not None
    bad_json = tmp_path / "x.json"
    bad_json.write_text('{"model": "gcn",\n "hidden": }')
    with pytest.raises(ParseError) as err:
        TrainConfig.from_file(bad_json)
    assert err.value.line == 2
    listing = tmp_path / "list.yaml"
    listing.write_text("- gcn\n")
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.from_file(listing)
    other = tmp_path / "cfg.toml"
    other.write_text("model = 'gcn'")
    with pytest.raises(ConfigError, match=".yaml, .yml or .json"):
        TrainConfig.from_file(other)


def test_from_args_flags_override_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: gcn\nhidden: 32\nepochs: 5\n")
    args = argparse.Namespace(config=str(path), model=None, hidden=16, epochs=None,
                              progress=False, data="x.pt")
    cfg = TrainConfig.from_args(args)
    assert (cfg.model, cfg.hidden, cfg.epochs, cfg.progress) == ("gcn", 16, 5, False)
    assert TrainConfig.from_args(argparse.Namespace()).model == TrainConfig().model


def test_to_dict_round_trip():
    cfg = TrainConfig(model="rgcn", inputs=["demographics"], batch_size=16, out_dir=None)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
