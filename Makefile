# tlmc: `make setup` once, then `make demo` or `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(abspath $(VENV))/bin
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm chromium
DEMO    ?= demo

.PHONY: setup apt venv demo test test-fast bench clean

setup: apt venv

# The ARM cross-compiler and QEMU (for the emulated boards), and Debian's chromium (the report's
# test renders build/report.html headless). As root: installed when missing. Otherwise: print the
# exact command. --no-install-recommends skips 1.5 GB of ARM libstdc++.
apt:
	@missing=""; \
	command -v arm-none-eabi-gcc >/dev/null || missing="$$missing gcc-arm-none-eabi libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null || missing="$$missing qemu-system-arm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then echo "apt: ARM toolchain, QEMU and chromium present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "apt: installing$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PKGS); \
	else echo "apt: missing$$missing; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends $(APT_PKGS)"; fi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install -q -e '.[train,dev]'

# The built-in voice-command recipe end to end: init, train, quantize, generate on the host,
# then build the firmware for the emulated Cortex-M4, flash it (start QEMU), run the HIL suite
# over the serial socket, show a completion from the device and stop QEMU (also on failure);
# then score the parses and write the report (demo/build/report.html).
demo: setup
	rm -rf $(DEMO)
	$(BIN)/tlmc init $(DEMO)
	cd $(DEMO) && $(BIN)/tlmc train
	cd $(DEMO) && $(BIN)/tlmc quantize
	cd $(DEMO) && $(BIN)/tlmc info
	cd $(DEMO) && $(BIN)/tlmc generate --int8 --prompt "turn off the" --tokens 60
	cd $(DEMO) && $(BIN)/tlmc build --board mps2-an386
	cd $(DEMO) && trap '$(BIN)/tlmc flash --board mps2-an386 --stop' EXIT && \
	  $(BIN)/tlmc flash --board mps2-an386 && \
	  $(BIN)/tlmc test --board mps2-an386 --junit hil.xml && \
	  printf 'turn off the\nset the bedroom\n' | $(BIN)/tlmc chat --board mps2-an386
	cd $(DEMO) && $(BIN)/tlmc eval --task commands && $(BIN)/tlmc report

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/quality.py --corpus ../shared/data/tinyshakespeare.txt
	$(BIN)/python bench/runtime.py
	$(BIN)/python bench/device.py
	$(BIN)/python bench/device.py --models
	$(BIN)/python bench/distill.py --recipe commands
	$(BIN)/python bench/distill.py --corpus ../shared/data/tinyshakespeare.txt
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf build $(DEMO) .pytest_cache
