"""Stages `build` and `flash`: compilers (host gcc, arm-none-eabi-gcc, Arduino sketches),
size budgets, the emulated boards (QEMU), instruction counts, and putting firmware on a board.
"""
