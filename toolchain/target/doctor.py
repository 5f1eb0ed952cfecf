"""`tlmc doctor`: which tools are present, and what each board needs to build, flash and test."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

from ..core import boards

# tool -> (version flag, how to get it)
TOOLS = {
    "gcc": ("--version", "apt-get install gcc"),
    "arm-none-eabi-gcc": ("--version", "apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi"),
    "arm-none-eabi-size": ("--version", "apt-get install --no-install-recommends binutils-arm-none-eabi"),
    "qemu-system-arm": ("--version", "apt-get install --no-install-recommends qemu-system-arm"),
    "arduino-cli": ("version", "the Arduino CLI (arduino.github.io/arduino-cli), then: arduino-cli core install <core>"),
    "bossac": ("--help", "BOSSA, or arduino-cli core install arduino:mbed_nano (ships bossac)"),
    "pyocd": ("--version", "pip install pyocd"),
}
PACKAGES = {"tensorflow": "pip install -e '.[train]'", "ai_edge_litert": "pip install ai-edge-litert",
            "tflite_micro": "pip install tflite-micro", "serial": "pip install pyserial"}

# What each stage needs, by board field value (boards are data: no board names here).
BUILD_NEEDS = {"host": ["gcc"], "mps2": ["arm-none-eabi-gcc", "arm-none-eabi-size"],
               "microbit": ["arm-none-eabi-gcc", "arm-none-eabi-size"],
               "arduino": ["arm-none-eabi-gcc", "arm-none-eabi-size"]}
FLASH_NEEDS = {"none": [], "qemu": ["qemu-system-arm"], "arduino-cli": ["arduino-cli"], "bossac": ["bossac"],
               "uf2": [], "pyocd": ["pyocd"]}


def tool_version(name: str) -> str | None:
    path = shutil.which(name)
    if path is None:
        return None
    try:
        out = subprocess.run([path, TOOLS[name][0]], capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0][:80] if text else "present"
    except (OSError, subprocess.TimeoutExpired):
        return "present (version unknown)"


def doctor() -> dict:
    tools = {name: {"version": tool_version(name), "install": hint} for name, (_, hint) in TOOLS.items()}
    packages = {name: {"present": importlib.util.find_spec(name) is not None, "install": hint}
                for name, hint in PACKAGES.items()}
    have = {n for n, t in tools.items() if t["version"]}
    rows = []
    for b in boards.all_boards().values():
        build = BUILD_NEEDS.get(b["port"], [])
        flash = FLASH_NEEDS.get(b["upload"], [])
        missing_build = [t for t in build if t not in have]
        missing_flash = [t for t in flash if t not in have]
        if b["port"] == "arduino" and "arduino-cli" not in have:
            note = "size check from a cross build of the runtime and model; the full sketch needs arduino-cli"
        else:
            note = ""
        rows.append({"board": b.id, "build": not missing_build, "flash": not missing_flash,
                     "missing": sorted(set(missing_build + missing_flash)), "note": note})
    return {"tools": tools, "packages": packages, "boards": rows}
