"""`tlmc report`: the page of a small trained, quantized, built and HIL-tested project has every
section with figures equal to the JSON artifacts, renders in a real headless browser, and a
project with missing stages says which commands make them. Also the training history."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolchain.cli import main
from tests.conftest import write_project

SECTIONS = ("training", "quantization", "commands", "memory", "speed", "device")


class Page(HTMLParser):
    """What a test needs from the report: per section its presence, figures (data-key ->
    data-value), plots (and whether each holds an <svg>) and missing commands; header keys."""

    def __init__(self, html: str):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.header: dict[str, str] = {}
        self._sec: dict | None = None
        self._plot: str | None = None
        self._key: str | None = None
        self.scripts = 0
        self.external = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.external.append(a[k])
        if tag == "section":
            self._sec = {"present": a.get("data-present"), "figures": {}, "plots": {}, "missing": []}
            self.sections[a["id"]] = self._sec
        elif tag == "header":
            self._sec = None
        elif "data-key" in a and self._sec is not None:
            self._sec["figures"][a["data-key"]] = a["data-value"]
        elif "data-key" in a:
            self._key = a["data-key"]
        elif tag == "figure" and "data-plot" in a:
            self._plot = a["data-plot"]
            self._sec["plots"][self._plot] = False
        elif tag == "svg" and self._plot is not None:
            self._sec["plots"][self._plot] = True
        elif tag == "li" and "data-command" in a:
            self._sec["missing"].append(a["data-command"])

    def handle_endtag(self, tag):
        if tag == "figure":
            self._plot = None

    def handle_data(self, data):
        if self._key is not None:
            self.header[self._key] = data.strip()
            self._key = None


def num(text: str) -> float:
    return float(text)


def close(a, b) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


@pytest.fixture(scope="module")
def reported(tiny_quantized, tmp_path_factory):
    """The tiny project built for the host (via the CLI) and mps2-an386, HIL-tested on the host,
    its parses evaluated, then reported: (project, page, json form, stderr of build and test)."""
    from toolchain.quality import evaluate
    from toolchain.target import build

    p, _, _ = tiny_quantized
    runner = CliRunner()
    r = runner.invoke(main, ["build", "-C", str(p.root), "--board", "host"])
    assert r.exit_code == 0, r.output
    build_err = r.stderr
    if shutil.which("arm-none-eabi-gcc"):
        build.build(p.cfg, p.build, "mps2-an386")
    r = runner.invoke(main, ["test", "-C", str(p.root), "--board", "host", "--tokens", "40",
                             "--junit", str(tmp_path_factory.mktemp("junit") / "hil.xml")])
    assert r.exit_code == 0, r.output
    test_err = r.stderr
    evaluate.run(p.cfg, p.build, task="commands", tokens=400, commands=40)
    r = runner.invoke(main, ["report", "-C", str(p.root), "--json"])
    assert r.exit_code == 0, r.output
    page = Page((p.build / "report.html").read_text())
    return p, page, json.loads(r.stdout), build_err + test_err


def read(p, *parts):
    return json.loads(p.build.joinpath(*parts).read_text())


def test_report_has_every_section_with_plots_and_no_outside_links(reported):
    p, page, js, _ = reported
    assert list(page.sections) == list(SECTIONS)
    for sid in SECTIONS:
        sec = page.sections[sid]
        assert sec["present"] == "yes", (sid, sec["missing"])
        assert sec["plots"] and all(sec["plots"].values()), (sid, sec["plots"])  # each plot an inline <svg>
        assert js["sections"][sid]["present"]
    assert page.scripts == 0 and page.external == []  # self-contained, readable without JavaScript
    assert page.header["model_hash"] == read(p, "quantize", "report.json")["model_hash"]
    assert page.header["version"] == js["version"]


def test_report_figures_match_the_artifacts(reported):
    p, page, js, _ = reported
    f = {sid: page.sections[sid]["figures"] for sid in SECTIONS}
    metrics, rep = read(p, "train", "metrics.json"), read(p, "quantize", "report.json")
    for k in ("val_ce", "val_acc", "steps", "params", "train_seconds"):
        assert close(f["training"][f"train.{k}"], metrics[k])
    for k in ("float_ce", "int8_ce", "float_acc", "int8_acc", "ce_increase_pct", "tflm_arena_bytes", "golden_vectors"):
        assert close(f["quantization"][k], rep[k]), k
    for k in ("mean", "p95", "worse", "n"):
        assert close(f["quantization"][f"token_ce_diff.{k}"], rep["token_ce_diff"][k]), k
    assert sum(rep["token_ce_diff"]["hist"]["counts"]) == rep["token_ce_diff"]["n"] == rep["eval_windows"]
    ev = read(p, "eval", "commands.json")
    for split in ev["commands"]:
        assert close(f["commands"][f"scratch_int8.exact_match_{split}"], ev["entries"]["scratch_int8"][f"exact_match_{split}"])
    host_build, plan = read(p, "host", "build.json"), read(p, js["boards"][0], "plan.json")
    assert close(f["memory"]["host.arena_bytes"], host_build["arena_bytes"])
    assert close(f["memory"]["plan.arena_bytes"], plan["arena_bytes"])
    macs = [num(v) for k, v in f["speed"].items() if k.startswith("op") and k.endswith(".macs")]
    assert sum(macs) == plan["macs_per_token"] == host_build["macs_per_token"]
    hil = read(p, "host", "hil.json")
    cases = [c for d in hil["devices"] for c in d["cases"]]
    assert num(f["device"]["host.passed"]) == sum(c["passed"] for c in cases) == len(cases)
    cmd = next(c for c in cases if c["name"] == "commands")["properties"]
    assert close(f["commands"]["host.device_exact_match"], cmd["exact_match"])
    # the JSON form carries the same figures as the page
    for sid in SECTIONS:
        assert {k: str(v) for k, v in js["sections"][sid]["figures"].items()} == f[sid]


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="no ARM cross-compiler (make setup)")
def test_report_memory_parts_add_up_to_the_firmware(reported):
    p, page, js, _ = reported
    b = read(p, "mps2-an386", "build.json")
    f = page.sections["memory"]["figures"]
    assert close(f["mps2-an386.flash_bytes"], b["flash_bytes"]) and close(f["mps2-an386.ram_bytes"], b["ram_bytes"])
    assert sum(b["flash_parts"].values()) == b["flash_bytes"] and sum(b["ram_parts"].values()) == b["ram_bytes"]
    plan = read(p, "mps2-an386", "plan.json")
    weights = sum(s["weight_bytes"] for s in plan["steps"])
    assert b["flash_parts"]["weights"] == weights == sum(b["weights_by_op"].values())
    assert b["ram_parts"]["arena"] == plan["arena_bytes"] and b["ram_parts"]["stack"] == b["stack_bytes"]
    assert f["budget.mps2-an386.fits"] == "yes"
    from toolchain.core.boards import all_boards

    budgets = js["sections"]["memory"]["tables"][0]
    assert {row[0] for row in budgets["rows"]} == set(all_boards())


def test_build_and_test_end_by_naming_the_report(reported):
    *_, err = reported
    assert err.count("report: tlmc report -C ") == 2


def test_history_records_every_point_of_the_run(tiny_quantized):
    p, metrics, _ = tiny_quantized
    h = read(p, "train", "history.json")
    tr, va = h["train"], h["val"]
    assert h["finished"] and h["steps"] == metrics["steps"] and tr["step"][-1] == metrics["steps"]
    assert len({len(v) for v in tr.values()}) == 1 and len({len(v) for v in va.values()}) == 1
    assert tr["step"] == sorted(set(tr["step"])) and len(va["step"]) >= 5
    assert tr["lr"][0] > tr["lr"][-1] > 0 and tr["seconds"] == sorted(tr["seconds"])
    assert close(h["final"]["val_ce"], metrics["val_ce"])


def test_resumed_training_keeps_the_history_of_an_uninterrupted_run(tmp_path):
    from toolchain.core import project
    from toolchain.train import loop

    text = (Path(__file__).parent / "conftest.py").read_text()
    tiny = text.split('TINY = """', 1)[1].split('"""', 1)[0].replace("steps = 240", "steps = 120")
    runs = {}
    for name, stops in (("straight", None), ("resumed", 70)):
        p = project.Project.load(write_project(tmp_path / name, tiny))
        if stops:
            with pytest.raises(loop.Interrupted):
                loop.run(p.cfg, p.build, progress=False, stop_after_steps=stops)
            partial = read(p, "train", "history.json")
            assert partial["step"] == stops and not partial["finished"]
        loop.run(p.cfg, p.build, progress=False)
        runs[name] = read(p, "train", "history.json")
    a, b = runs["straight"], runs["resumed"]
    assert b["resumed_at"] == [70] and a["resumed_at"] == []
    assert a["train"]["step"] == b["train"]["step"] and a["val"]["step"] == b["val"]["step"]
    assert all(math.isclose(x, y, rel_tol=1e-5) for x, y in zip(a["train"]["loss"], b["train"]["loss"]))
    assert all(math.isclose(x, y, rel_tol=1e-5) for x, y in zip(a["val"]["ce"], b["val"]["ce"]))


def test_report_of_a_project_trained_but_never_built_lists_what_is_missing(tiny_quantized, tmp_path):
    p, _, _ = tiny_quantized
    root = write_project(tmp_path / "trained", (p.root / "tlm.toml").read_text())
    shutil.copytree(p.build / "train", root / "build" / "train")
    r = CliRunner().invoke(main, ["report", "-C", str(root), "--json"])
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    page = Page((root / "build" / "report.html").read_text())
    assert page.sections["training"]["present"] == "yes" and js["sections"]["training"]["plots"]
    want = {"quantization": "tlmc quantize", "commands": "tlmc eval --task commands", "memory": "tlmc build",
            "speed": "tlmc build", "device": "tlmc test"}
    for sid, command in want.items():
        assert page.sections[sid]["present"] == "no"
        assert any(command in c for c in page.sections[sid]["missing"]), (sid, page.sections[sid]["missing"])
        assert [m["command"] for m in js["sections"][sid]["missing"]] == page.sections[sid]["missing"]
    text = CliRunner().invoke(main, ["report", "-C", str(root)]).output
    assert "Memory" in text and "run 'tlmc build --board <board>'" in text


def test_report_open_without_a_display_says_where_the_page_is(tiny_quantized, tmp_path, monkeypatch):
    p, _, _ = tiny_quantized
    root = write_project(tmp_path / "empty", (p.root / "tlm.toml").read_text())
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    r = CliRunner().invoke(main, ["report", "-C", str(root), "--open"])
    assert r.exit_code == 0, r.output
    assert "no display" in r.stderr and str(root / "build" / "report.html") in r.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, TALL = 1200, 16000


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup installs it)")
def test_report_renders_in_headless_chromium(reported, tmp_path):
    """Screenshot the page in a window taller than it: the PNG has the window's size, the page's
    content (non-background rows) is as tall as six sections with plots need, and it ends
    before the window does; the content is not blank."""
    import numpy as np
    from PIL import Image  # matplotlib's own dependency

    p, *_ = reported
    png = tmp_path / "report.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={WIDTH},{TALL}", f"--screenshot={png}",
                           (p.build / "report.html").resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert png.is_file(), proc.stderr[-500:]
    img = Image.open(png).convert("RGB")
    assert img.size == (WIDTH, TALL)
    px = np.asarray(img)
    other = (px != px[-1, 1]).any(axis=2)  # pixels unlike the body's background (bottom left)
    height = int(np.flatnonzero(other.any(axis=1)).max()) + 1
    assert 3000 <= height < TALL - 200, height
    assert other[:height].mean() > 0.5  # white section cards and plots, not an empty page
    assert len(np.unique(px[:height:7, ::7].reshape(-1, 3), axis=0)) > 50  # plots' colours, text
