"""`tlmc export`: the model as an Arduino library and a PlatformIO project, for your own sketch.

`tlmc build` makes firmware that owns setup() and loop(); this makes a library a sketch calls
(docs/arduino.md). The zip follows the Arduino library specification (format 1.5), with one
folder at its root, as "Add .ZIP Library" and `arduino-cli lib install --zip-path` expect:

    tlm_<project>/
        library.properties         name, version, ..., architectures (every board's cores), includes
        src/tlm_<project>.h        the one header a sketch includes (templates/arduino_library.h.j2)
        src/...                    the runtime, the protocol, the C API (tlm_api.h), the Arduino port,
                                   the model (tlmc emit) and the kernel set's FULLY_CONNECTED files
        examples/SerialProtocol/SerialProtocol.ino    the `tlmc build` firmware: `tlmc test` runs on it
        examples/VoiceCommands/VoiceCommands.ino      an utterance -> a command -> the LED
        examples/Generate/Generate.ino                a prompt -> its continuation

One library serves every board at once: Arduino compiles all of src/ for the board picked, so
each FULLY_CONNECTED file is guarded by the preprocessor condition that selects it (compile.py
FC_GUARDS: the DSP kernel where the core has the extension, the portable one elsewhere), and
the header names the board by the macro its core defines (boards/*.toml `arduino_define`).

The PlatformIO project is `build/platformio/tlm_<project>/`: platformio.ini with one env per
board that has a `platformio` table, the library in lib/ (library.json), src/main.cpp the
SerialProtocol example. The model is emitted into build/library/ first (the `optimized` or
`reference` kernel set of tlm.toml, as for `tlmc build`).

Public API: `export(cfg, build_dir, ...)`, `library_boards(board)`, `library_files(gen_dir,
boards, project_name, ...)`, `platformio_files(...)`, `write_zip(path, root, files)`, `EXAMPLES`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

from .. import __version__
from ..codegen import emit as emit_mod
from ..codegen.emit import _env
from ..core.boards import Board, all_boards, resolve
from ..core.config import Config
from ..core.errors import FileError, NotBuilt, UsageError, os_error_message
from ..core.fsutil import atomic_write_bytes, check_writable
from . import compile as compile_mod
from .sketch import firmware_files, sketch_name

# example folder -> its template (examples/<Name>/<Name>.ino)
EXAMPLES = {"SerialProtocol": "arduino_serial_protocol.ino.j2", "VoiceCommands": "arduino_voice_commands.ino.j2",
            "Generate": "arduino_generate.ino.j2"}
PLATFORMIO_MAIN = "SerialProtocol"     # the example src/main.cpp is
GEN_DIR = "library"                    # build/library/: the model emitted for the library
PLATFORMIO_DIR = "platformio"          # build/platformio/<name>/
DEFAULT_AUTHOR = "tlmc"
DEFAULT_URL = "https://example.com/{name}"  # RFC 2606: a placeholder until --url names the real page
ZIP_TIME = (1980, 1, 1, 0, 0, 0)       # every entry: the zip is a function of its contents
FILE_MODE, DIR_MODE = 0o644, 0o755



def library_boards(board: str | None = None) -> list[Board]:
    """The boards a library serves: `board` alone, or every board with an Arduino core (port
    "arduino" and an architecture), by id. UsageError for a board without one."""
    arduino = [b for b in sorted(all_boards().values(), key=lambda b: b.id)
               if b["port"] == "arduino" and b.arduino_architectures]
    names = ", ".join(b.id for b in arduino) or "none"
    if board is not None:
        b = resolve(board)
        if b not in arduino:
            raise UsageError(f"--board {board}: board {b.id} has no Arduino core (port '{b['port']}'); "
                             f"an Arduino library serves {names}")
        return [b]
    if not arduino:
        raise UsageError("no board file in boards/ has port = \"arduino\" and an fqbn; add one (docs/arduino.md)")
    return arduino


def _config(gen_dir: Path) -> dict:
    """The #defines of the emitted tlm_config.h the library needs."""
    return compile_mod.config_defines(gen_dir, ("TLM_MODEL_HASH", "TLM_KERNELS", "TLM_ARENA_BYTES", "TLM_HAS_GRAMMAR"))


def _board_kernel(b: Board, kernels: str) -> str:
    """The FULLY_CONNECTED file a board's core gets (compile.FC_SOURCES; FC_GUARDS chooses the
    same with a GCC of version 10 or later)."""
    return compile_mod.kernel_sources(kernels, b["core"])[0].name


def _template_env():
    env = _env()
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def _guarded_kernel(env, path: Path, condition: str, kernels: str, model_hash: str) -> bytes:
    source = path.read_text(encoding="utf-8")
    text = env.get_template("arduino_kernel.c.j2").render(
        version=__version__, model_hash=model_hash, file=path.name, condition=condition, kernels=kernels,
        source=source if source.endswith("\n") else source + "\n")
    return text.encode("utf-8")


def _sentence(project_name: str) -> str:
    shown = " ".join("".join(ch if ch.isprintable() else " " for ch in str(project_name)).split())
    return f"The int8 language model of tlmc project '{shown}', on the device, without an interpreter."


def _describe(name: str, project_name: str, cfg: dict, boards: list[Board]) -> tuple[str, str]:
    """library.properties' sentence and paragraph (one line each)."""
    sentence = _sentence(project_name)
    grammar = ", voice commands parsed with its grammar" if cfg["TLM_HAS_GRAMMAR"] else ""
    paragraph = (f"Model {cfg['TLM_MODEL_HASH']}: {cfg.get('TLM_VOCAB', '?')} tokens, context "
                 f"{cfg.get('TLM_CONTEXT', '?')}, {cfg['TLM_ARENA_BYTES']} B of RAM (a static arena), "
                 f"{cfg['TLM_KERNELS']} kernels{grammar}; the C API is tlm_api.h. Examples: SerialProtocol (the "
                 f"firmware 'tlmc test' runs on), VoiceCommands, Generate. Boards: "
                 f"{', '.join(b.id for b in boards)}. Generated by tlmc {__version__}; include {name}.h.")
    return sentence, " ".join(paragraph.split())


def library_files(gen_dir: Path, boards: list[Board], project_name: str, *, author: str = DEFAULT_AUTHOR,
                  url: str | None = None) -> dict[str, bytes]:
    """The library's files, by path inside its folder (library.properties, src/..., examples/...),
    from what `tlmc emit` wrote into gen_dir and the runtime. Nothing is written."""
    gen_dir = Path(gen_dir)
    cfg = _config(gen_dir)
    name = sketch_name(project_name)
    header = f"{name}.h"
    kernels, model_hash = cfg["TLM_KERNELS"], cfg["TLM_MODEL_HASH"]
    variants = compile_mod.kernel_variants(kernels)
    sources = firmware_files(gen_dir, "arduino", [compile_mod.KERNELS_DIR / f for f in variants])
    if any(s.name == header for s in sources):
        raise UsageError(f"a firmware file is named {header}, as the library's header is; rename the project")
    env = _template_env()
    files: dict[str, bytes] = {}
    for src in sources:
        condition = variants.get(src.name) if src.parent == compile_mod.KERNELS_DIR else None
        files[f"src/{src.name}"] = (_guarded_kernel(env, src, condition, kernels, model_hash)
                                    if condition not in (None, "1") else src.read_bytes())
    boards_text = [f"{b.id} ({', '.join(b.arduino_architectures)})" for b in boards]
    common = {"version": __version__, "model_hash": model_hash, "name": name, "header": header,
              "has_grammar": int(cfg["TLM_HAS_GRAMMAR"]), "boards": boards_text}
    files[f"src/{header}"] = env.get_template("arduino_library.h.j2").render(
        **common, file=header, guard=emit_mod.c_ident(header).upper() + "_", project=project_name,
        arena_bytes=cfg["TLM_ARENA_BYTES"], kernels=kernels,
        defines=[{"id": b.id, "define": b["arduino_define"]} for b in boards if b.get("arduino_define")],
        kernel_files=[{"file": f, "condition": c} for f, c in variants.items()]).encode("utf-8")
    for example, template in EXAMPLES.items():
        files[f"examples/{example}/{example}.ino"] = env.get_template(template).render(
            **common, file=f"{example}.ino", board_macro="TLM_LIB_BOARD").encode("utf-8")
    architectures = list(dict.fromkeys(a for b in boards for a in b.arduino_architectures))
    sentence, paragraph = _describe(name, project_name, cfg, boards)
    files["library.properties"] = env.get_template("arduino_library.properties.j2").render(
        **common, author=_one_line(author, "--author"), url=_one_line(url or DEFAULT_URL.format(name=name), "--url"),
        sentence=sentence, paragraph=paragraph, architectures=architectures).encode("utf-8")
    return dict(sorted(files.items()))


def _one_line(text: str, what: str) -> str:
    if not text.strip() or any(not ch.isprintable() for ch in text):
        raise UsageError(f"{what} {text!r}: must be one line of printable text")
    return text.strip()


def platformio_files(gen_dir: Path, library: dict[str, bytes], boards: list[Board], project_name: str, *,
                     author: str = DEFAULT_AUTHOR, url: str | None = None) -> dict[str, bytes]:
    """A PlatformIO project around the library's files (library_files of gen_dir): platformio.ini
    with an env per board that has a `platformio` table, lib/<name>/ with library.json,
    src/main.cpp the SerialProtocol example. UsageError when no board has a PlatformIO env."""
    name = sketch_name(project_name)
    model_hash = _config(Path(gen_dir))["TLM_MODEL_HASH"]
    with_pio = [b for b in boards if b.get("platformio")]
    if not with_pio:
        raise UsageError(f"board {', '.join(b.id for b in boards)}: no 'platformio' table in its board file; "
                         "add one (docs/arduino.md) or export --arduino only")
    envs = [{"name": emit_mod.c_ident(b.id).lower(), "board_id": b.id, "title": b["name"],
             "platform": b["platformio"]["platform"], "board": b["platformio"]["board"],
             "baud": b["serial"].get("baud") or 115200,
             "options": sorted(b["platformio"].get("options", {}).items())} for b in with_pio]
    env = _template_env()
    files = {f"lib/{name}/{path}": data for path, data in library.items() if path != "library.properties"}
    files[f"lib/{name}/library.json"] = env.get_template("platformio_library.json.j2").render(
        name=name, version=__version__, sentence=_sentence(project_name), author=_one_line(author, "--author"),
        url=_one_line(url or DEFAULT_URL.format(name=name), "--url"), header=f"{name}.h").encode("utf-8")
    files["src/main.cpp"] = library[f"examples/{PLATFORMIO_MAIN}/{PLATFORMIO_MAIN}.ino"]
    files["platformio.ini"] = env.get_template("platformio.ini.j2").render(
        version=__version__, model_hash=model_hash, name=name, envs=envs).encode("utf-8")
    return dict(sorted(files.items()))


# ---------------------------------------------------------------------------------------------
# Writing

def zip_bytes(root: str, files: dict[str, bytes]) -> bytes:
    """A zip of `files` under one folder `root`: directory entries too, mode 0644 (0755 for
    folders), one fixed time, sorted: the same files give the same bytes."""
    dirs = sorted({f"{root}/{'/'.join(p.split('/')[:i])}/" for p in files for i in range(1, p.count("/") + 1)}
                  | {f"{root}/"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for d in dirs:
            info = zipfile.ZipInfo(d, ZIP_TIME)
            info.external_attr = (0o40000 | DIR_MODE) << 16 | 0x10  # S_IFDIR, and MS-DOS directory
            z.writestr(info, b"")
        for path, data in sorted(files.items()):
            info = zipfile.ZipInfo(f"{root}/{path}", ZIP_TIME)
            info.external_attr = (0o100000 | FILE_MODE) << 16    # S_IFREG
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def write_zip(path: Path, root: str, files: dict[str, bytes]) -> dict:
    """`files` zipped under `root` into `path`, atomically: {"zip", "bytes", "files": [{path,
    bytes}], "uncompressed_bytes"}."""
    data = zip_bytes(root, files)
    atomic_write_bytes(path, data)
    return {"zip": str(path), "bytes": len(data), "uncompressed_bytes": sum(map(len, files.values())),
            "files": [{"path": f"{root}/{p}", "bytes": len(d)} for p, d in files.items()]}


def write_tree(folder: Path, files: dict[str, bytes]) -> dict:
    """`files` as the folder `folder`, replaced whole: written next to it, then renamed into
    place, so it is never half old, half new. {"folder", "bytes", "files": [{path, bytes}]}."""
    folder = Path(folder)
    stage = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    try:
        for p in (stage, old):
            if p.exists():          # left by a run that was killed
                shutil.rmtree(p)
        stage.mkdir(parents=True)
        for path, data in files.items():
            atomic_write_bytes(stage / path, data)
        if folder.exists():
            folder.rename(old)
        stage.rename(folder)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if old.exists() and not folder.exists():
            old.rename(folder)      # the previous project stays as it was
        if isinstance(e, OSError):
            raise FileError(os_error_message(e, folder)) from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    return {"folder": str(folder), "bytes": sum(map(len, files.values())),
            "files": [{"path": p, "bytes": len(d)} for p, d in files.items()]}


# ---------------------------------------------------------------------------------------------
# The command

def _require_quantized(cfg: Config, build_dir: Path) -> None:
    from ..export.freshness import require_current

    model = build_dir / "quantize" / "model.tflite"
    if not model.is_file():
        raise NotBuilt(f"{model}: the project is not quantized yet; run 'tlmc quantize' first "
                       "(after 'tlmc train')")
    require_current(cfg, build_dir, "tlmc quantize")


def _check_ram(boards: list[Board], arena_bytes: int) -> None:
    for b in boards:
        ram = int(b.get("app_ram_bytes", 0) or 0)
        if ram and arena_bytes > ram:
            raise UsageError(f"board {b.id}: the arena needs {arena_bytes} B of RAM but the board has {ram} B for "
                             "the application; leave it out (--board another) or shrink model.hidden or model.context")


def export(cfg: Config, build_dir: Path, *, arduino: bool = True, platformio: bool = False, board: str | None = None,
           author: str = DEFAULT_AUTHOR, url: str | None = None) -> dict:
    """`tlmc export`: the current quantized model as an Arduino library zip (build/<name>.zip,
    or build/<name>-<board>.zip for one board) and/or a PlatformIO project folder
    (build/platformio/<name>/). Returns what was written, with sizes, per board its
    architectures and kernel. UsageError (exit 2) for an unknown or non-Arduino board or a
    board the arena does not fit; NotBuilt / Stale (exit 1) for a project not quantized, or
    quantized from an older tlm.toml; FileError (exit 1) for a build/ that cannot be written."""
    from .build import project_grammar

    if not (arduino or platformio):
        raise UsageError("nothing to export: pass --arduino (a library zip) and/or --platformio (a project folder)")
    build_dir = Path(build_dir)
    boards = library_boards(board)
    if build_dir.exists() and not build_dir.is_dir():
        raise FileError(f"{build_dir}: a file, not a folder; move it away (tlmc writes its outputs into build/)")
    check_writable(build_dir, 1 << 20)
    _require_quantized(cfg, build_dir)
    kernels = cfg["board"]["kernels"]
    summary = emit_mod.emit(build_dir, build_dir / GEN_DIR, boards[0], kernels=kernels, grammar=project_grammar(cfg))
    _check_ram(boards, summary["arena_bytes"])
    project_name = cfg["project"]["name"]
    name = sketch_name(project_name)
    library = library_files(build_dir / GEN_DIR, boards, project_name, author=author, url=url)
    result: dict = {
        "library": name, "version": __version__, "header": f"{name}.h", "model_hash": summary["model_hash"],
        "arena_bytes": summary["arena_bytes"], "weight_bytes": summary["weight_bytes"], "kernels": kernels,
        "examples": list(EXAMPLES), "grammar": project_grammar(cfg) is not None,
        "architectures": list(dict.fromkeys(a for b in boards for a in b.arduino_architectures)),
        "boards": [{"id": b.id, "architectures": list(b.arduino_architectures), "kernel": _board_kernel(b, kernels),
                    "define": b.get("arduino_define"), "platformio": bool(b.get("platformio"))} for b in boards],
    }
    if arduino:
        suffix = f"-{boards[0].id}" if board is not None else ""
        result["arduino"] = write_zip(build_dir / f"{name}{suffix}.zip", name, library)
    if platformio:
        files = platformio_files(build_dir / GEN_DIR, library, boards, project_name, author=author, url=url)
        result["platformio"] = write_tree(build_dir / PLATFORMIO_DIR / name, files)
    return result
