"""The report's sections as plain data, read from the artifacts in build/.

Each section is a dict: `id`, `title`, `present` (its main input exists), `missing` (what is
not there and the command that makes it), `notes`, `figures` (key -> number or text: what the
page shows and the JSON carries, keys as in the artifact they come from), `tables` and `data`
(the series plots.py draws; left out of the JSON form). Nothing here computes a model figure:
each number is copied from the file named in docs/report.md.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..core import boards as boards_mod
from ..core.fsutil import read_json

STAGES = (("train", "scratch student", "tlmc train"), ("teacher", "teacher", "tlmc train --teacher"),
          ("distill", "distilled student", "tlmc distill"))
WRONG_SHOWN = 10


def load(path: Path) -> Any:
    """A JSON artifact, or None when it is absent or unreadable."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def section(sid: str, title: str, commands: list[str]) -> dict:
    return {"id": sid, "title": title, "present": False, "missing": [], "notes": [], "figures": {}, "tables": [],
            "data": {}, "commands": commands}


def need(s: dict, what: str, command: str) -> None:
    s["missing"].append({"what": what, "command": command})


def table(title: str, columns: list[str], rows: list[list]) -> dict:
    """A table to show; the numbers it repeats are also among the section's figures."""
    return {"title": title, "columns": columns, "rows": rows}


def board_dirs(build: Path) -> list[str]:
    """Boards with something built, tested or planned in build/<board>/, latest first."""
    known = boards_mod.all_boards()
    found = []
    for d in build.iterdir() if build.is_dir() else ():
        files = [d / n for n in ("build.json", "plan.json", "hil.json")]
        if d.is_dir() and d.name in known and any(f.is_file() for f in files):
            found.append((max(f.stat().st_mtime for f in files if f.is_file()), d.name))
    return [name for _, name in sorted(found, reverse=True)]


# ---------------------------------------------------------------------------------------------

def training(build: Path) -> dict:
    s = section("training", "Training", [c for _, _, c in STAGES[:1]])
    runs = []
    for stage, label, command in STAGES:
        metrics = load(build / stage / "metrics.json")
        if metrics is None:
            continue
        if stage != "train":
            s["commands"].append(command)
        hist = load(build / stage / "history.json")
        for k in ("steps", "params", "macs_per_token", "val_ce", "val_ppl", "val_acc", "train_ce", "final_loss",
                  "train_seconds"):
            if metrics.get(k) is not None:
                s["figures"][f"{stage}.{k}"] = metrics[k]
        if hist is None:
            need(s, f"{label}: no history.json (trained by an older tlmc)", f"{command} --force")
        runs.append({"stage": stage, "label": label, "history": hist})
    if not runs:
        need(s, "no trained model (build/train/metrics.json)", "tlmc train")
        return s
    s["present"] = True
    s["data"]["runs"] = [r for r in runs if r["history"] is not None]
    for r in s["data"]["runs"]:
        h = r["history"]
        if h.get("resumed_at"):
            s["notes"].append(f"{r['label']}: resumed at step {', '.join(f'{x:,}' for x in h['resumed_at'])}")
        if not h.get("finished"):
            s["notes"].append(f"{r['label']}: unfinished, {h.get('step', 0):,} of {h.get('steps', 0):,} steps")
    return s


def quantization(build: Path, board_names: list[str]) -> dict:
    s = section("quantization", "Quantization", ["tlmc quantize"])
    rep = load(build / "quantize" / "report.json")
    if rep is None:
        need(s, "no int8 model (build/quantize/report.json)", "tlmc quantize")
        return s
    s["present"] = True
    for k in ("float_ce", "int8_ce", "float_ppl", "int8_ppl", "float_acc", "int8_acc", "ce_increase_pct",
              "eval_tokens", "eval_windows", "eval", "tflite_bytes", "weight_bytes", "tflm_arena_bytes",
              "litert_vs_tflm_max_lsb", "litert_vs_tflm_bytes_differing", "golden_vectors", "model_hash"):
        if k in rep:
            s["figures"][k] = rep[k]
    s["figures"]["ops"] = ", ".join(rep.get("ops", []))
    diff = rep.get("token_ce_diff")
    if diff and diff.get("n"):
        for k in ("n", "mean", "median", "p05", "p95", "max_abs", "worse", "better", "equal"):
            s["figures"][f"token_ce_diff.{k}"] = diff[k]
        s["data"]["token_ce_diff"] = diff
    else:
        need(s, "the per-token int8 - float CE differences (quantized by an older tlmc)", "tlmc quantize --force")
    s["tables"].append(table("float vs int8 (LiteRT, first validation tokens)", ["", "float", "int8"], [
        ["CE (nats/token)", rep["float_ce"], rep["int8_ce"]], ["perplexity", rep["float_ppl"], rep["int8_ppl"]],
        ["accuracy", rep["float_acc"], rep["int8_acc"]]]))
    rows = []
    for b in board_names:
        built = load(build / b / "build.json") or {}
        hil = load(build / b / "hil.json") or {}
        golden = _case(hil, "golden_vectors")
        if built.get("selftest"):
            rows.append([b, "host selftest", built["selftest"]])
            s["figures"][f"{b}.selftest"] = built["selftest"]
        if golden is not None:
            p = golden["properties"]
            rows.append([b, "HIL golden_vectors", f"{p.get('vectors_equal', 0)}/{p.get('vectors', 0)} equal"])
            s["figures"][f"{b}.golden_vectors_equal"] = p.get("vectors_equal", 0)
    if rows:
        s["tables"].append(table("golden vectors: the C runtime against TFLM's outputs", ["board", "check", "result"],
                                 rows))
    else:
        s["notes"].append("no golden-vector check yet: 'tlmc build --board host' runs the selftest, "
                          "'tlmc test' the HIL golden_vectors case")
    return s


def _case(hil: dict, name: str) -> dict | None:
    for d in hil.get("devices", []):
        for c in d.get("cases", []):
            if c["name"] == name:
                return c
    return None


def commands(cfg, build: Path, board_names: list[str]) -> dict:
    s = section("commands", "Commands", ["tlmc eval --task commands"])
    if cfg.commands_source() is None:
        s["notes"].append("not a commands project (no [data] grammar or recipe): no parse accuracy")
        return s
    ev = load(build / "eval" / "commands.json")
    if ev is None:
        need(s, "no parse accuracy (build/eval/commands.json)", "tlmc eval --task commands")
        return s
    s["present"] = True
    rep_path = build / "quantize" / "report.json"
    if rep_path.is_file() and rep_path.stat().st_mtime > (build / "eval" / "commands.json").stat().st_mtime:
        s["notes"].append("the parses are older than the quantized model: rerun 'tlmc eval --task commands'")
    splits = list(ev.get("commands", {}))
    rows = []
    for name, e in ev["entries"].items():
        if not e:
            continue
        rows.append([name] + [100 * e.get(f"exact_match_{sp}", float("nan")) for sp in splits])
        for sp in splits:
            s["figures"][f"{name}.exact_match_{sp}"] = e.get(f"exact_match_{sp}")
    s["tables"].append(table("exact match, % of held-out utterances",
                             ["model"] + [f"{sp} ({ev['commands'][sp]:,})" for sp in splits], rows))
    parses = ev.get("parses", {})
    int8 = next((n for n in parses if n.endswith("_int8")), next(iter(parses), None))
    if int8 is not None:
        s["data"]["per_intent"] = {"model": int8, "splits": {sp: parses[int8][sp]["per_intent"] for sp in parses[int8]}}
        wrong = Counter()
        example = {}
        for sp, summary in parses[int8].items():
            for utterance, truth, got in summary["wrong"]:
                wrong[(truth, got)] += 1
                example.setdefault((truth, got), utterance)
        top = wrong.most_common(WRONG_SHOWN)
        s["figures"][f"{int8}.wrong_parses"] = sum(wrong.values())
        s["tables"].append(table(f"most frequent wrong parses ({int8}, all splits)",
                                 ["times", "expected", "got", "for example"],
                                 [[n, t, g or "(nothing)", example[(t, g)]] for (t, g), n in top]))
    for b in board_names:
        case = _case(load(build / b / "hil.json") or {}, "commands")
        if case is None or "exact_match" not in case["properties"]:
            continue
        p = case["properties"]
        s["figures"][f"{b}.device_exact_match"] = float(p["exact_match"])
        if "exact_match_compositional" in p:
            s["figures"][f"{b}.device_exact_match_compositional"] = float(p["exact_match_compositional"])
        s["figures"][f"{b}.device_parses_equal_host"] = "yes" if case["passed"] else "no"
    return s


# ---------------------------------------------------------------------------------------------

def memory(build: Path, board_names: list[str]) -> dict:
    s = section("memory", "Memory", [f"tlmc build --board {b}" for b in board_names] or ["tlmc build"])
    built = {b: load(build / b / "build.json") for b in board_names}
    built = {b: r for b, r in built.items() if r}
    plans = {b: load(build / b / "plan.json") for b in board_names}
    plans = {b: p for b, p in plans.items() if p}
    if not built and not plans:
        need(s, "no build (build/<board>/build.json)", "tlmc build --board <board>")
        return s
    s["present"] = True
    per_board = []
    for b, r in built.items():
        for k in ("flash_bytes", "ram_bytes", "flash_budget_bytes", "ram_budget_bytes", "arena_bytes",
                  "weight_bytes", "tokenizer_bytes", "text_bytes", "data_bytes", "bss_bytes", "stack_bytes"):
            if r.get(k) is not None:
                s["figures"][f"{b}.{k}"] = r[k]
        per_board.append({"board": b, "flash_parts": r.get("flash_parts") or _coarse_flash(r),
                          "ram_parts": r.get("ram_parts") or _coarse_ram(r),
                          "flash_budget": r.get("flash_budget_bytes"), "ram_budget": r.get("ram_budget_bytes")})
        if r.get("parts_note"):
            s["notes"].append(f"{b}: {r['parts_note']}")
    s["data"]["per_board"] = per_board
    s["tables"].append(_budget_table(built))
    for row in s["tables"][-1]["rows"]:
        s["figures"][f"budget.{row[0]}.fits"] = row[5]
    s["data"]["budgets"] = s["tables"][-1]["rows"]
    if plans:
        b, plan = next(iter(plans.items()))
        s["data"]["plan"] = plan
        s["data"]["plan_board"] = b
        s["figures"]["plan.arena_bytes"] = plan["arena_bytes"]
        s["figures"]["plan.persistent_bytes"] = plan["persistent_bytes"]
        s["figures"]["plan.buffers"] = len(plan["buffers"])
    else:
        need(s, "no arena plan (build/<board>/plan.json: emitted by an older tlmc)", "tlmc emit")
    return s


def _coarse_flash(r: dict) -> dict:
    """Flash parts of a build without a linked ELF (host, Arduino objects): what it says."""
    parts = {k: r[f] for k, f in (("model data", "model_data_bytes"), ("runtime and kernels", "runtime_text_bytes"),
                                  ("protocol", "protocol_text_bytes"), ("plan (generated calls)", "plan_text_bytes"))
             if r.get(f)}
    if not parts and r.get("text_bytes") is not None:
        parts = {"program text": r["text_bytes"], "initialized data": r.get("data_bytes") or 0}
    return parts


def _coarse_ram(r: dict) -> dict:
    if r.get("data_bytes") is not None or r.get("bss_bytes") is not None:
        return {"initialized data": r.get("data_bytes") or 0, "zeroed data": r.get("bss_bytes") or 0}
    return {"arena": r.get("arena_bytes", 0)}


def _budget_table(built: dict) -> dict:
    """Every board's budget against the model's footprint: the board's own build when there is
    one, else an estimate from a bare-metal build (its flash; its RAM with the board's stack)."""
    ref = next(((b, r) for b, r in built.items() if r.get("firmware")), None)
    rows = []
    for bid, board in sorted(boards_mod.all_boards().items()):
        own = built.get(bid)
        if own is not None and own.get("flash_bytes") is not None:
            flash, ram, how = own["flash_bytes"], own["ram_bytes"], "built"
            budget = {"flash_bytes": own["flash_budget_bytes"], "ram_bytes": own["ram_budget_bytes"]}
        elif ref is not None:
            r = ref[1]
            flash = r["flash_bytes"]
            ram = r["ram_bytes"] - (r.get("stack_bytes") or 0) + int(board.get("main_stack_bytes", 0) or 0)
            how, budget = f"estimate from {ref[0]}", board.budget(core_linked=False)
        else:
            continue
        fits = all(budget[k] is None or v <= budget[k] for k, v in (("flash_bytes", flash), ("ram_bytes", ram)))
        rows.append([bid, flash, budget["flash_bytes"] or "unlimited", ram, budget["ram_bytes"] or "unlimited",
                     "yes" if fits else "NO", how])
    return table("every board's budget (boards/*.toml)", ["board", "flash B", "flash budget B", "RAM B",
                                                          "RAM budget B", "fits", "from"], rows)


def speed(build: Path, board_names: list[str]) -> dict:
    s = section("speed", "Speed", [f"tlmc build --board {b}" for b in board_names] or ["tlmc build"])
    plans = {b: p for b in board_names if (p := load(build / b / "plan.json"))}
    built = {b: r for b in board_names if (r := load(build / b / "build.json"))}
    if not plans and not built:
        need(s, "no build (build/<board>/plan.json, build.json)", "tlmc build --board <board>")
        return s
    s["present"] = True
    rows = []
    for b in board_names:
        r, p = built.get(b, {}), plans.get(b, {})
        if not r and not p:
            continue
        macs = r.get("macs_per_token", p.get("macs_per_token"))
        insn, cyc = r.get("instructions_per_token"), r.get("cycles_per_token")
        rows.append([b, r.get("kernels", p.get("kernels", "?")), macs, insn if insn is not None else "-",
                     r.get("instructions_per_mac", "-"), cyc if cyc is not None else r.get("per_token_note", "-")])
        for k in ("kernels", "macs_per_token", "instructions_per_token", "instructions_per_mac", "cycles_per_token"):
            if r.get(k, p.get(k)) is not None:
                s["figures"][f"{b}.{k}"] = r.get(k, p.get(k))
    s["tables"].append(table("per token, latest build of each board (emulated boards: exact instruction counts of "
                             "QEMU -icount, not a real board's cycles)",
                             ["board", "kernels", "MACs", "instructions", "instructions/MAC", "cycles"], rows))
    if plans:
        b, plan = next(iter(plans.items()))
        insn = built.get(b, {}).get("instructions_per_token")
        total = max(1, plan["macs_per_token"])
        layers, lrows = [], []
        for st in plan["steps"]:
            if st["kind"] == "RESHAPE":
                continue
            shape = f"{st['in_features']} -> {st['out_features']}" if "in_features" in st else (
                f"{st.get('rows', '')} x {st.get('row_len', '')}" if st["kind"] == "GATHER" else str(st.get("n", "")))
            est = round(insn * st["macs"] / total) if insn and st["macs"] else None
            layers.append({"op": st["op"], "kind": st["kind"], "macs": st["macs"], "est_insn": est})
            lrows.append([st["op"], st["kind"], shape, st["macs"], st["weight_bytes"] + st["const_bytes"],
                          est if est is not None else "-"])
            s["figures"][f"op{st['op']}.macs"] = st["macs"]
            s["figures"][f"op{st['op']}.bytes"] = st["weight_bytes"] + st["const_bytes"]
        s["data"]["layers"] = layers
        s["data"]["layers_board"] = b
        s["tables"].append(table(f"per layer ({b} plan; instructions estimated: the measured total split by MACs)",
                                 ["op", "kind", "shape", "MACs", "const bytes", "instructions (est.)"], lrows))
    return s


def device(build: Path, board_names: list[str], model_hash: str | None) -> dict:
    s = section("device", "Device", [])
    runs = {b: h for b in board_names if (h := load(build / b / "hil.json"))}
    if not runs:
        s["commands"].append("tlmc flash --board <board> && tlmc test --board <board>")
        need(s, "no HIL results (build/<board>/hil.json)", "tlmc flash --board <board> && tlmc test --board <board>")
        return s
    s["present"] = True
    s["data"]["runs"] = []
    for b, h in runs.items():
        s["commands"].append(f"tlmc test --board {b}" if b == "host" else
                             f"tlmc flash --board {b} && tlmc test --board {b}")
        passed = sum(c["passed"] for d in h["devices"] for c in d["cases"])
        total = sum(len(d["cases"]) for d in h["devices"])
        s["figures"][f"{b}.passed"] = passed
        s["figures"][f"{b}.tests"] = total
        s["figures"][f"{b}.finished_at"] = h.get("finished_at", "?")
        hs = _case(h, "handshake")
        if hs and model_hash and hs["properties"].get("device_model") not in (None, model_hash):
            s["notes"].append(f"{b}: tested model {hs['properties']['device_model']}, the build is {model_hash}: "
                              "flash and test again")
        lat = _case(h, "latency")
        for k in ("instructions_per_token", "instructions_per_mac", "cycles_per_token", "ticks_per_step", "counter"):
            if lat and k in lat["properties"]:
                s["figures"][f"{b}.{k}"] = lat["properties"][k]
        rows = []
        for d in h["devices"]:
            for c in d["cases"]:
                props = ", ".join(f"{k}={v}" for k, v in c["properties"].items() if not k.startswith("device_"))
                rows.append([d["port"], c["name"], "pass" if c["passed"] else "FAIL", c["seconds"], props[:160]])
        s["tables"].append(table(f"{b}: {passed}/{total} passed, {h.get('finished_at', '')}",
                                 ["port", "case", "result", "seconds", "measured"], rows))
        s["data"]["runs"].append({"board": b, "cases": [(c["name"], c["passed"], c["seconds"])
                                                        for d in h["devices"] for c in d["cases"]]})
    return s
