"""How bytes cross the link, and what a link fault means in words (toolchain/link/client.py's
helpers, kept apart so the client reads as the protocol).

A request line longer than the device's receive buffer goes in pieces (docs/protocol.md, "The
link"): each piece of at most `rx_max` bytes is written out and given its time on a UART's
wire before the next, so no more than one buffer's worth is ever ahead of the firmware.
"""

from __future__ import annotations

import errno

BITS_PER_BYTE = 10          # 8N1 on a UART: a piece of n bytes is on the wire n * 10 / baud s


def piece_pause(nbytes: int, baud: int) -> float:
    """Seconds a piece of `nbytes` takes on a UART at `baud` (0 when the rate is unknown)."""
    return nbytes * BITS_PER_BYTE / baud if baud > 0 else 0.0


def pieces(data: bytes, limit: int) -> list[bytes]:
    """`data` cut into pieces of at most `limit` bytes (one piece when limit is 0: no limit)."""
    if limit <= 0 or len(data) <= limit:
        return [data]
    return [data[i:i + limit] for i in range(0, len(data), limit)]


def open_failure(port: str, e: Exception) -> tuple[str, bool]:
    """(why a port did not open, for a person; whether trying again soon may help)."""
    text = str(e)
    low = text.lower()
    if isinstance(e, ValueError) and "protocol" in low and "not known" in low:
        scheme = port.split("://", 1)[0]
        return (f"pyserial knows no {scheme}:// URLs; give a serial device (/dev/ttyACM0, COM3) or "
                "socket://HOST:PORT (an emulated board)"), False
    errno_ = getattr(e, "errno", None)
    if errno_ == errno.ECONNREFUSED or "connection refused" in low:
        return ("connection refused: nothing listens there (an emulated board: is it running? "
                "'tlmc flash' starts it)"), True
    if errno_ == errno.ENOENT or "no such file" in low or "could not find" in low:
        return "no such port; check the name and that the board is plugged in ('tlmc boards' lists USB ids)", True
    if errno_ in (errno.EACCES, errno.EPERM) or "permission denied" in low:
        return "permission denied; join the group that owns the port (sudo usermod -aG dialout $USER, then log in again)", False
    if errno_ == errno.EBUSY or "busy" in low or "exclusively lock" in low:
        return "the port is busy; close the other program using it (a serial monitor, another tlmc)", True
    if "timed out" in low:
        return "no connection within 5 s; is the host reachable and the port right?", False
    detail = text.split(": ", 1)[1] if text.startswith("Could not open port") and ": " in text else text
    return f"{detail.strip() or type(e).__name__}; check the port name and that nothing else holds it", False


def link_failure(e: Exception) -> str:
    """What went wrong with an open link, in words (pyserial's texts are for programmers)."""
    low = str(e).lower()
    if "socket disconnected" in low or "broken pipe" in low or "connection reset" in low or \
            isinstance(e, (BrokenPipeError, ConnectionResetError)):
        return "the device closed the connection"
    if "returned no data" in low or "input/output error" in low or getattr(e, "errno", None) == errno.EIO:
        return "the device disconnected (input/output error)"
    if "not open" in low:
        return "the port is closed"
    return f"the link failed ({str(e).strip() or type(e).__name__})"


def lost_hint(port: str) -> str:
    if port.startswith("socket://"):
        return "is the emulator still running? ('tlmc flash' starts it again)"
    if port.startswith("/dev/pts/"):
        return "the host build's program ended"
    return "was the board unplugged or reset? check the cable and run the command again"
