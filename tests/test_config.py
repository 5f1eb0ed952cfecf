"""tlm.toml validation: every field error is one line naming file, field, value and fix."""

from __future__ import annotations

import tomllib

import pytest

from toolchain.core import config
from toolchain.core.errors import ConfigError

from .conftest import write_project


def load_text(tmp_path, text):
    write_project(tmp_path, text)
    return config.load(tmp_path)


def test_defaults_fill_every_field(tmp_path):
    cfg = load_text(tmp_path, "")
    for sec, fields in config.SCHEMA.items():
        assert set(cfg[sec]) == set(fields)
    assert cfg["model"]["arch"] == "mlp" and cfg.documents() == "lines"


def test_rendered_default_config_loads_and_documents_every_field(tmp_path):
    text = config.render_default("x")
    for sec, fields in config.SCHEMA.items():
        assert f"[{sec}]" in text
        for key in fields:
            assert f"\n{key} = " in text
    raw = tomllib.loads(text)
    cfg = config.validate(raw, tmp_path / "tlm.toml")
    assert cfg["project"]["name"] == "x"


@pytest.mark.parametrize("text, must_name", [
    ("[modle]\n", ["[modle]", "did you mean 'model'"]),
    ("[model]\ncontxt = 4\n", ["contxt", "did you mean 'context'"]),
    ("[model]\ncontext = -3\n", ["[model] context = -3", "from 1 to 512"]),
    ("[model]\ncontext = 'big'\n", ["[model] context = 'big'", "an integer"]),
    ("[model]\ncontext = true\n", ["[model] context = True", "an integer"]),
    ("[model]\nhidden = [0]\n", ["[model] hidden", "1 to 8 integers"]),
    ("[model]\nhidden = []\n", ["[model] hidden"]),
    ("[model]\narch = 'lstm9'\n", ["[model] arch = 'lstm9'", "one of"]),
    ("[train]\nlr = 0\n", ["[train] lr = 0.0"]),
    ("[train]\nbatch = 1.5\n", ["[train] batch = 1.5", "an integer"]),
    ("[train]\nlabel_smoothing = 0.7\n", ["[train] label_smoothing = 0.7", "from 0.0 to 0.5"]),
    ("[tokenizer]\nkind = 'sentencepiece'\n", ["[tokenizer] kind = 'sentencepiece'", "'word', 'bpe'"]),
    ("[tokenizer]\nvocab_size = 8\n", ["[tokenizer] vocab_size = 8", "from 16 to 65535"]),
    ("[tokenizer]\nmin_count = 0\n", ["[tokenizer] min_count = 0"]),
    ("[tokenizer]\nlowercase = 1\n", ["[tokenizer] lowercase = 1", "true or false"]),
    ("[data]\nval_fraction = 0.9\n", ["[data] val_fraction = 0.9"]),
    ("[data]\nrecipe = ''\n", ["neither recipe nor corpus"]),
    ("[data]\ncorpus = ['missing.txt']\n", ["both recipe"]),
    ("[data]\nrecipe = ''\ncorpus = ['missing.txt']\n", ["'missing.txt' not found"]),
    ("[data]\nrecipe = ''\ncorpus = [3]\n", ["list of file paths"]),
    ("[board]\nid = 'nano34'\n", ["unknown board 'nano34'"]),
    ("model = 3\n", ["'model' must be a [model] table"]),
    ("[model\n", ["not valid TOML"]),
])
def test_config_errors_are_one_line_and_name_the_field(tmp_path, text, must_name):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("tlm.toml") or "tlm.toml" in msg
    for part in must_name:
        assert part in msg, msg


def test_missing_config_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="tlmc init"):
        config.load(tmp_path)


def test_non_utf8_config_is_a_config_error(tmp_path):
    (tmp_path / "tlm.toml").write_bytes(b"[project]\nname = '\xff'\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        config.load(tmp_path)


def test_int_is_accepted_for_float_fields(tmp_path):
    cfg = load_text(tmp_path, "[train]\nlr = 1\n")
    assert cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float)


def test_init_writes_the_measured_defaults_for_recipe_and_corpus(tmp_path):
    recipe = config.validate(tomllib.loads(config.render_default("r")), tmp_path / "tlm.toml")
    assert recipe["tokenizer"]["kind"] == "bpe" and recipe["tokenizer"]["lowercase"]
    assert recipe["data"]["typo_lines"] > 0 and recipe["data"]["value_lines"] > 0
    (tmp_path / "c.txt").write_text("some text\n")
    corpus = config.validate(tomllib.loads(config.render_default("c", ["c.txt"])), tmp_path / "tlm.toml")
    assert corpus["tokenizer"]["kind"] == "bpe" and corpus["tokenizer"]["vocab_size"] == 512
    assert not corpus["tokenizer"]["lowercase"] and corpus["model"]["context"] == 16
    # an explicit override still wins over the corpus defaults
    text = config.render_default("c", ["c.txt"], {"tokenizer": {"kind": "char"}})
    assert config.validate(tomllib.loads(text), tmp_path / "tlm.toml")["tokenizer"]["kind"] == "char"
    # commands projects (the recipe, any grammar) train with label smoothing; a corpus does not
    assert recipe["train"]["label_smoothing"] == 0.1 and corpus["train"]["label_smoothing"] == 0.0
    grammar = config.validate(tomllib.loads(config.render_default("g", grammar="smarthome")), tmp_path / "tlm.toml")
    assert grammar["train"]["label_smoothing"] == 0.1


def test_a_config_written_before_label_smoothing_keeps_its_train_hash(tmp_path):
    """A tlm.toml without [train] label_smoothing loads as 0, which the train and distill
    stages leave out of their hash: a model trained before the field existed stays current."""
    from toolchain.train import distill, loop

    old = load_text(tmp_path, "")
    assert old["train"]["label_smoothing"] == 0.0
    assert "label_smoothing" not in loop.stage_inputs(old, "d")["train"]
    assert "label_smoothing" not in distill.stage_inputs(old, "s")["train"]
    assert loop.stage_inputs(old, "d")["train"] == {k: v for k, v in old["train"].items() if k != "label_smoothing"}
    new = load_text(tmp_path, "[train]\nlabel_smoothing = 0.1\n")
    assert loop.stage_hash(new, "d") != loop.stage_hash(old, "d")
    assert loop.stage_inputs(new, "d")["train"]["label_smoothing"] == 0.1
