"""Shared fixtures: tiny projects that train in seconds, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = """
[project]
name = "tiny"
[data]
recipe = "commands"
recipe_lines = 3000
[model]
context = 8
embed = 8
hidden = [48]
[train]
steps = 240
batch = 64
lr = 0.01
checkpoint_steps = 50
[quantize]
calibration_samples = 100
eval_samples = 400
golden_vectors = 60
"""


def write_project(folder: Path, text: str = TINY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tlm.toml").write_text(text)
    return folder


@pytest.fixture(scope="session")
def tiny_quantized(tmp_path_factory):
    """A tiny commands-recipe project, trained and quantized: (project, train metrics, report)."""
    from toolchain.core import project
    from toolchain.export import quantize
    from toolchain.train import loop as train

    root = write_project(tmp_path_factory.mktemp("tiny"))
    p = project.Project.load(root)
    metrics = train.run(p.cfg, p.build, progress=False)
    report = quantize.run(p.cfg, p.build)
    return p, metrics, report


@pytest.fixture(scope="session")
def tiny_host(tiny_quantized):
    """The tiny project built for the host board: (project, build result)."""
    from toolchain.target import build

    p, _, _ = tiny_quantized
    return p, build.build(p.cfg, p.build, "host")


# The step-model fixtures keep character tokens: 240 steps of a 40-wide GRU cannot learn a
# 1,024-id BPE vocabulary, and these fixtures test the architectures, not the tokenizer.
_CHAR = "[tokenizer]\nkind = \"char\"\n[model]\n"
STEP_TINY = {
    "gru": TINY.replace("[model]\ncontext = 8\nembed = 8\nhidden = [48]",
                        _CHAR + 'arch = "gru"\nembed = 12\nhidden = [40]').replace("batch = 64", "batch = 32\nseq_len = 32"),
    "conv": TINY.replace("[model]\ncontext = 8\nembed = 8\nhidden = [48]",
                         _CHAR + 'arch = "conv"\nembed = 16\nhidden = [16, 16, 16]').replace("batch = 64",
                                                                                             "batch = 32\nseq_len = 32"),
}


@pytest.fixture(scope="session", params=["gru", "conv"])
def step_quantized(request, tmp_path_factory):
    """A tiny trained and quantized step model per architecture: (arch, project, metrics, report)."""
    from toolchain.core import project
    from toolchain.export import quantize
    from toolchain.train import loop as train

    root = write_project(tmp_path_factory.mktemp(request.param), STEP_TINY[request.param])
    p = project.Project.load(root)
    metrics = train.run(p.cfg, p.build, progress=False)
    report = quantize.run(p.cfg, p.build)
    return request.param, p, metrics, report
