"""How tlmc talks to a running device: the serial protocol client (pyserial: a real port, the
emulator's TCP socket or the host build's pseudo-terminal).
"""
