"""Host side of the serial protocol (docs/protocol.md), over pyserial.

One client for every transport pyserial opens: a USB CDC port (`/dev/ttyACM0`), a UART, the
emulator's `socket://127.0.0.1:PORT`, or a pty of the host build. Requests are lines; every
request gets one final `OK`/`ERR` line; GEN streams `TOK` lines first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import TlmcError

PROTOCOL_VERSION = 1
LINE_MAX = 255


class DeviceError(TlmcError):
    """The device did not answer as the protocol says (timeout, garbage, wrong firmware)."""


class DeviceReplyError(DeviceError):
    """The device answered `ERR <code> ...`."""

    def __init__(self, code: str, text: str, request: str):
        self.code, self.text, self.request = code, text, request
        super().__init__(f"device refused {request[:40]!r}: ERR {code} {text}")


def escape(data: bytes) -> str:
    """Bytes -> the protocol's escaped ASCII (docs/protocol.md)."""
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x0D:
            out.append("\\r")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x20:
            out.append("\\s")
        elif 0x21 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def escape_prompt(text: str) -> str:
    """Prompt text for GEN: like escape() but plain spaces stay readable."""
    return " ".join(escape(part.encode("utf-8")) for part in text.split(" "))


def escape_text(text: str) -> str:
    """Text for CMD and TOKENIZE: spaces inside stay readable, spaces at either end travel as
    `\\s` so that nothing on the way can trim them."""
    lead = len(text) - len(text.lstrip(" "))
    rest = text[lead:]
    trail = len(rest) - len(rest.rstrip(" "))
    return "\\s" * lead + escape_prompt(rest[:len(rest) - trail]) + "\\s" * trail


def command_request(utterance: str) -> str:
    """The CMD request line for an utterance (escape_text)."""
    return "CMD " + escape_text(utterance)


def tokenize_request(text: str) -> str:
    """The TOKENIZE request line for a text (escape_text); an empty text is `TOKENIZE` alone."""
    return ("TOKENIZE " + escape_text(text)) if text else "TOKENIZE"


def unescape(s: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        nxt = s[i + 1:i + 2]
        simple = {"\\": 0x5C, "n": 0x0A, "r": 0x0D, "t": 0x09, "s": 0x20}
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x" and len(s) >= i + 4:
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError(f"bad escape at {i} in {s!r}")
    return bytes(out)


@dataclass
class Reply:
    final: str
    stream: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fields(self) -> dict[str, str]:
        """`OK a=1 b=2` -> {'a': '1', 'b': '2'}."""
        return dict(w.split("=", 1) for w in self.final.split()[1:] if "=" in w)


class Device:
    """A device speaking protocol v1 on a pyserial URL or port name."""

    def __init__(self, port: str, baud: int = 115200, timeout: float = 10.0, open_retries: int = 20):
        import serial

        self.port = port
        self.timeout = timeout
        last = None
        for _ in range(max(1, open_retries)):
            try:
                self.ser = serial.serial_for_url(port, baudrate=baud, timeout=timeout, write_timeout=timeout)
                break
            except (serial.SerialException, OSError) as e:  # the port may be re-enumerating
                last = e
                time.sleep(0.25)
        else:
            raise DeviceError(f"{port}: cannot open ({last}); check the port name and that nothing else holds it")
        self._info: dict[str, str] | None = None

    def close(self) -> None:
        self.ser.close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- lines --------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def readline(self, timeout: float | None = None) -> str:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        buf = bytearray()
        while True:
            self.ser.timeout = max(0.01, deadline - time.monotonic())
            chunk = self.ser.read_until(b"\n")
            buf += chunk
            if buf.endswith(b"\n"):
                return buf.rstrip(b"\r\n").decode("ascii", errors="replace")
            if time.monotonic() >= deadline:
                raise DeviceError(f"{self.port}: no reply within {self.timeout:.0f} s"
                                  + (f" (got {bytes(buf[:60])!r})" if buf else "")
                                  + "; is the firmware running and the port right?")

    def request(self, line: str, timeout: float | None = None, on_stream=None) -> Reply:
        """Send one request line; collect streamed lines until the final OK/ERR."""
        if "\n" in line or "\r" in line:
            raise ValueError("a request is one line")
        t0 = time.monotonic()
        self.send_raw(line.encode("ascii", errors="strict") + b"\n")
        stream = []
        while True:
            got = self.readline(timeout)
            if got.startswith("OK") and (len(got) == 2 or got[2] == " "):
                return Reply(got, stream, time.monotonic() - t0)
            if got.startswith("ERR"):
                parts = got.split(" ", 2) + ["", ""]
                raise DeviceReplyError(parts[1], parts[2], line)
            stream.append(got)
            if on_stream is not None:
                on_stream(got)

    def sync(self, attempts: int = 5) -> None:
        """End any partial line on the device and drop stale input, then check INFO answers."""
        last: Exception | None = None
        for _ in range(attempts):
            try:
                self.send_raw(b"\n")
                time.sleep(0.05)
                self.ser.reset_input_buffer()
                self._info = None
                self.info()
                return
            except DeviceError as e:
                last = e
        raise DeviceError(f"{self.port}: no protocol handshake after {attempts} tries ({last})")

    # -- commands -----------------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        if self._info is None:
            r = self.request("INFO")
            self._info = r.fields()
            if self._info.get("proto") != str(PROTOCOL_VERSION):
                raise DeviceError(f"{self.port}: device speaks protocol {self._info.get('proto')!r}, "
                                  f"tlmc speaks {PROTOCOL_VERSION}; reflash with this tlmc")
        return self._info

    def check_model(self, model_hash: str) -> None:
        got = self.info().get("model")
        if got != model_hash:
            raise DeviceError(f"{self.port}: device runs model {got}, the build is {model_hash}; "
                              f"flash this build first (tlmc flash)")

    def reset(self) -> None:
        self.request("RESET")

    def logits(self, window) -> np.ndarray:
        r = self.request("LOGITS " + " ".join(str(int(t)) for t in window))
        return np.array([int(v) for v in r.final.split()[1:]], dtype=np.int8)

    def generate(self, prompt: str, max_tokens: int, seed: int = 1, temp_milli: int = 0, top_k: int = 0,
                 on_token=None) -> tuple[list[int], bytes, Reply]:
        """(ids, text bytes, final reply) of a GEN request."""
        ids: list[int] = []
        text = bytearray()

        def on_stream(line: str) -> None:
            parts = line.split(" ", 2)
            if parts[0] != "TOK" or len(parts) < 2:
                raise DeviceError(f"{self.port}: unexpected line during GEN: {line[:60]!r}")
            ids.append(int(parts[1]))
            piece = unescape(parts[2]) if len(parts) > 2 else b""
            text.extend(piece)
            if on_token is not None:
                on_token(int(parts[1]), piece)

        line = f"GEN {max_tokens} {seed} {temp_milli} {top_k}"
        if prompt:
            line += " " + escape_prompt(prompt)
        r = self.request(line, timeout=max(self.timeout, 60.0), on_stream=on_stream)
        return ids, bytes(text), r

    def command(self, utterance: str) -> tuple[str, dict[str, str]]:
        """(parsed command text, the other reply fields) of a `CMD <utterance>` request: the
        device decodes `utterance + " =>"` greedily up to LF and drops the one space after the
        separator (docs/protocol.md, cmdparse.command_text). Fields: n (tokens decoded, the LF
        included), complete (1 if it stopped at LF), cycles."""
        r = self.request(command_request(utterance), timeout=max(self.timeout, 60.0))
        fields = r.fields()
        try:
            text = unescape(fields.pop("text")).decode("utf-8", errors="replace")
        except (KeyError, ValueError):
            raise DeviceError(f"{self.port}: CMD reply without a valid text= field: {r.final[:80]!r}") from None
        return text, fields

    def tokenize(self, text: str) -> list[int]:
        """The ids the device's tokenizer gives `text` (TOKENIZE; the model is not touched).
        DeviceReplyError `encode` if the device cannot encode it (a BPE piece too long)."""
        return self._token_ids(self.request(tokenize_request(text)).final, text)

    def tokenize_many(self, texts, in_flight: int = 8) -> list:
        """tokenize() of each text, up to `in_flight` requests sent before their replies are read
        (keep it small for boards with small receive buffers). Each result is the ids, or the
        DeviceReplyError of a text the device refused; a timeout raises."""
        texts = list(texts)
        out: list = []
        for s in range(0, len(texts), max(1, in_flight)):
            chunk = texts[s:s + max(1, in_flight)]
            lines = [tokenize_request(t) for t in chunk]
            self.send_raw("".join(ln + "\n" for ln in lines).encode("ascii"))
            for text, line in zip(chunk, lines):
                got = self.readline()
                if got.startswith("ERR"):
                    parts = got.split(" ", 2) + ["", ""]
                    out.append(DeviceReplyError(parts[1], parts[2], line))
                elif got.startswith("OK"):
                    out.append(self._token_ids(got, text))
                else:
                    raise DeviceError(f"{self.port}: unexpected reply to TOKENIZE: {got[:60]!r}")
        return out

    def _token_ids(self, final: str, text: str) -> list[int]:
        fields = Reply(final).fields()
        try:
            ids = [int(v) for v in fields["ids"].split(",")] if fields.get("ids") else []
            ok = len(ids) == int(fields["n"])
        except (KeyError, ValueError):
            ok = False
        if not ok:
            raise DeviceError(f"{self.port}: TOKENIZE {text[:30]!r}: bad reply {final[:80]!r}")
        return ids

    def bench(self, steps: int = 10) -> dict[str, str]:
        return self.request(f"BENCH {steps}", timeout=max(self.timeout, 60.0)).fields()
