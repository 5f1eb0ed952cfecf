from __future__ import annotations

import numpy as np
import pytest

from toolchain.core import config
from toolchain.data import dataset as data
from toolchain.core.errors import UsageError
from toolchain.data.tokenizer import PAD, Tokenizer

from .conftest import write_project


def corpus_project(tmp_path, files: dict[str, bytes], extra: str = ""):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    names = ", ".join(f'"{n}"' for n in files)
    write_project(tmp_path, f'[data]\nrecipe = ""\ncorpus = [{names}]\n{extra}[tokenizer]\nkind = "char"\n[model]\ncontext = 4\n')
    return config.load(tmp_path)


def test_several_corpus_files_are_documents(tmp_path):
    cfg = corpus_project(tmp_path, {"a.txt": b"alpha beta\n" * 50, "b.txt": "gamma délta\n".encode() * 50})
    ds = data.prepare(cfg, tmp_path / "build")
    assert "é" in ds.tokenizer.chars
    # each document starts with `context` pads, and pads are never targets
    assert (ds.train[:4] == PAD).all()
    x, y = data.windows(ds.train, ds.train_positions(), 4)
    assert (y != PAD).all() and x.shape[1] == 4


def test_non_utf8_corpus_names_file_and_byte(tmp_path):
    cfg = corpus_project(tmp_path, {"latin.txt": b"caf\xe9 au lait\n" * 10})
    with pytest.raises(UsageError, match=r"latin.txt: not UTF-8 \(byte 0xe9 at offset 3\)"):
        data.prepare(cfg, tmp_path / "build")


def test_empty_corpus_file_is_an_error(tmp_path):
    cfg = corpus_project(tmp_path, {"empty.txt": b"  \n"})
    with pytest.raises(UsageError, match="empty"):
        data.prepare(cfg, tmp_path / "build")


def test_data_stage_is_cached_and_invalidated_by_corpus_change(tmp_path):
    cfg = corpus_project(tmp_path, {"a.txt": b"one two three\n" * 40})
    data.prepare(cfg, tmp_path / "build")
    stamp = (tmp_path / "build" / "data" / "streams.npz").stat().st_mtime_ns
    data.prepare(cfg, tmp_path / "build")
    assert (tmp_path / "build" / "data" / "streams.npz").stat().st_mtime_ns == stamp
    (tmp_path / "a.txt").write_bytes(b"four five six\n" * 40)
    ds = data.prepare(cfg, tmp_path / "build")
    assert "f" in ds.tokenizer.chars


def test_recipe_lines_are_documents_and_split_is_disjoint(tmp_path):
    write_project(tmp_path, "[data]\nrecipe_lines = 500\n[model]\ncontext = 6\n")
    cfg = config.load(tmp_path)
    docs = data.read_documents(cfg)
    train, val = data.split_documents(docs, 0.1, 1)
    assert len(docs) == 500 and len(val) == 50 and all(d.endswith("\n") for d in docs)
    ds = data.prepare(cfg, tmp_path / "build")
    assert ds.tokenizer.kind == cfg["tokenizer"]["kind"] and " => " in ds.tokenizer.decode(ds.train[:200])


def test_windows_shape_and_content():
    stream = np.array([0, 0, 5, 6, 7], np.int32)
    x, y = data.windows(stream, data.target_positions(stream, 2), 2)
    assert x.tolist() == [[0, 0], [0, 5], [5, 6]] and y.tolist() == [5, 6, 7]


def test_heldout_lines_exclude_utterances_seen_verbatim_in_training(tmp_path):
    import json

    write_project(tmp_path, "[data]\nrecipe_lines = 3000\n[model]\ncontext = 6\n")
    cfg = config.load(tmp_path)
    data.prepare(cfg, tmp_path / "build")
    held = json.loads((tmp_path / "build" / "data" / "heldout.json").read_text())
    stamp = json.loads((tmp_path / "build" / "data" / "stamp.json").read_text())
    train_docs, val_docs = data.split_documents(data.read_documents(cfg), 0.1, 1)
    train_docs += data.augment_documents(cfg, len(train_docs))  # what prepare trains on
    seen = {d.split(" => ")[0] for d in train_docs}
    assert held["excluded_verbatim"] == sum(d.split(" => ")[0] in seen for d in val_docs) > 0
    assert len(held["random"]) + held["excluded_verbatim"] == len(val_docs)
    assert not any(u in seen for u, _ in held["random"])
    assert len(held["compositional"]) == 300 and stamp["heldout_excluded_verbatim"] == held["excluded_verbatim"]
    # held-out text is kept as written: typos and all (not decoded from tokens)
    assert all(isinstance(c, str) and "." in c for _, c in held["random"])


def _without_and_with(tmp_path, field: str):
    """Datasets of 1,000 recipe lines (byte tokens: text survives decoding) with no augmentation,
    and with `[data] field = 0.5`."""
    base = "[data]\nrecipe_lines = 1000\nvalue_lines = 0\ntypo_lines = 0\n[tokenizer]\nkind = \"byte\"\n[model]\ncontext = 6\n"
    write_project(tmp_path / "a", base)
    write_project(tmp_path / "b", base.replace(f"{field} = 0", f"{field} = 0.5"))
    return (data.prepare(config.load(tmp_path / "a"), tmp_path / "a" / "build"),
            data.prepare(config.load(tmp_path / "b"), tmp_path / "b" / "build"))


def test_typo_lines_add_misspelt_training_lines_only(tmp_path):
    a, b = _without_and_with(tmp_path, "typo_lines")
    assert a.tokenizer.decode(a.val) == b.tokenizer.decode(b.val)  # the same held-out text
    assert a.tokenizer.decode(a.compositional) == b.tokenizer.decode(b.compositional)
    lines_a = a.tokenizer.decode(a.train).splitlines()
    lines_b = b.tokenizer.decode(b.train).splitlines()
    assert len(lines_a) == 900 and len(lines_b) == 900 + 450


def test_command_weights_start_at_the_space_after_the_separator():
    from toolchain.data import grammar as grammars

    lines = [ln + "\n" for ln in grammars.builtin("smarthome").generate(300, 2)]
    for kind in ("char", "word", "bpe"):
        tok = Tokenizer.learn(lines, kind, 96, vocab_size=300)
        stream = data.to_stream(lines[:3], tok, 4)
        w = data.target_weights(stream, tok, 0.25)
        for start in np.flatnonzero(stream[:-1] == PAD)[3::4]:  # each document's first token
            ids = stream[start + 1:]
            end = int(np.argmax(ids == PAD)) if (ids == PAD).any() else len(ids)
            doc = ids[:end]
            text_before = [tok.decode(doc[:i + 1]) for i in range(len(doc))]
            for i, t in enumerate(text_before):
                in_cmd = " =>" in t and not t.endswith(" =>")
                assert w[start + 1 + i] == (1.0 if in_cmd else 0.25), (kind, t)


def test_value_lines_add_training_lines_of_commands_with_a_value(tmp_path):
    a, b = _without_and_with(tmp_path, "value_lines")
    extra = b.tokenizer.decode(b.train).splitlines()[len(a.tokenizer.decode(a.train).splitlines()):]
    assert len(extra) == 450
    assert all(line.split(" => ")[1].split()[-1].isdigit() for line in extra)  # every one ends in a value
    assert a.tokenizer.decode(a.val) == b.tokenizer.decode(b.val)
