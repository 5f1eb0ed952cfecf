"""Where tlmc's own data lives (templates, firmware, boards) and the build folder layout."""

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # toolchain/
REPO_ROOT = PACKAGE_ROOT.parent
TEMPLATES = REPO_ROOT / "templates"
FIRMWARE = REPO_ROOT / "firmware"
BOARDS = REPO_ROOT / "boards"
