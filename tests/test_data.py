from __future__ import annotations

import numpy as np
import pytest

from toolchain import config, data
from toolchain.errors import UsageError
from toolchain.tokenizer import PAD, Tokenizer

from .conftest import write_project


def corpus_project(tmp_path, files: dict[str, bytes], extra: str = ""):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    names = ", ".join(f'"{n}"' for n in files)
    write_project(tmp_path, f'[data]\nrecipe = ""\ncorpus = [{names}]\n{extra}[model]\ncontext = 4\n')
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
    assert ds.tokenizer.kind == "char" and " => " in ds.tokenizer.decode(ds.train[:200])


def test_windows_shape_and_content():
    stream = np.array([0, 0, 5, 6, 7], np.int32)
    x, y = data.windows(stream, data.target_positions(stream, 2), 2)
    assert x.tolist() == [[0, 0], [0, 5], [5, 6]] and y.tolist() == [5, 6, 7]
