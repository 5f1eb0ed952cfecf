"""Host side of the serial protocol (docs/protocol.md), over pyserial.

One client for every transport pyserial opens: a USB CDC port (`/dev/ttyACM0`), a UART, the
emulator's `socket://127.0.0.1:PORT`, or a pty of the host build. Requests are lines; every
request gets one final `OK`/`ERR` line; GEN streams `TOK` lines first.

The link rules (docs/protocol.md, "Host rules"): one request at a time (the next is sent only
after the final line of the one before; tokenize_many may keep TOKENIZE lines in flight where
the link loses nothing), and a request line longer than the device's receive buffer (INFO
`rx_max`; 0: no limit) goes in pieces of at most that many bytes, each written out and given
its time on the wire before the next, so a 256-byte line is safe on a board whose core keeps
63 bytes (stm32duino).
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.parse
from contextlib import contextmanager

import numpy as np

from ..core.errors import TlmcError
from . import wire
from .messages import (LINE_MAX, Reply, check_gen_args, command_request, escape, escape_prompt,  # noqa: F401
                       escape_text, gen_request, tokenize_request, unescape)  # (the protocol's lines, re-exported)

PROTOCOL_VERSION = 1


class DeviceError(TlmcError):
    """The device did not answer as the protocol says (timeout, garbage, wrong firmware)."""


class DeviceLost(DeviceError):
    """The link itself failed: the port does not open, or it closed or failed under a read or
    write. Nothing more can be said over it."""


class Interrupted(DeviceError):
    """Device.cancel() was called while a read was waiting (Ctrl-C during `tlmc test`)."""


class DeviceReplyError(DeviceError):
    """The device answered `ERR <code> ...`."""

    def __init__(self, code: str, text: str, request: str):
        self.code, self.text, self.request = code, text, request
        super().__init__(f"device refused {request[:40]!r}: ERR {code} {text}")


# -- link faults: what a person reads ---------------------------------------------------------
OPEN_WAIT_S = 5.0           # a USB port may be re-enumerating (after an upload): retry opening it
OPEN_WAIT_SOCKET_S = 1.0    # a socket:// URL: the emulator listens within ~0.1 s of its start
READ_CHUNK_S = 0.2          # reads wait at most this long before looking at the deadline/cancel
HANDSHAKE_S = 6.0           # sync(): INFO must answer within this, in all
HANDSHAKE_TRY_S = 2.0       # sync(): one try (the emulated microbit can be ~0.7 s late at first)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quote(data: bytes, n: int = 40) -> str:
    text = data.rstrip(b"\r\n").decode("ascii", errors="replace")
    return repr(text if len(text) <= n else text[:n] + "...")


def _check_url(port: str) -> None:
    """A URL pyserial would misread, refused with the fix (socket:// without a port gives a
    TypeError deep inside pyserial otherwise)."""
    if not port:
        raise DeviceLost("no port given: pass --port /dev/ttyACM0 (a board) or socket://127.0.0.1:PORT (an emulator)")
    scheme = port.split("://", 1)[0].lower() if "://" in port else ""
    if scheme in ("socket", "rfc2217"):
        parts = urllib.parse.urlsplit(port)
        try:
            number = parts.port
        except ValueError:
            number = -1
        if not parts.hostname or number is None or not 0 < number < 65536:
            raise DeviceLost(f"{port}: cannot open: a {scheme} URL needs a host and a port from 1 to 65535, "
                             f"e.g. {scheme}://127.0.0.1:4321")


class Device:
    """A device speaking protocol v1 on a pyserial URL or port name.

    Every fault of the link itself (the port cannot be opened, the other side closes, a read
    or write fails) becomes a DeviceLost here, one line naming the port, what was being done
    and what to check; no pyserial exception leaves this class. A request that gets no reply
    is a DeviceError after `timeout` s (the handshake: after HANDSHAKE_S s in all).

    `rx_max`: the device's receive buffer in bytes when its INFO does not say (firmware before
    the field; boards/*.toml `serial.rx_buffer_bytes` for a board without flow control), 0 for
    no limit. INFO's `rx_max` wins once the handshake has read it."""

    def __init__(self, port: str, baud: int = 115200, timeout: float = 10.0, open_wait: float | None = None,
                 rx_max: int = 0):
        import serial

        self.port = port
        self.timeout = timeout
        self.baud = baud
        self.rx_max = rx_max
        self._rx = bytearray()          # received bytes not yet returned as lines
        self._cancel = threading.Event()
        self._info: dict[str, str] | None = None
        self._heard = ""                # what the device sent that was no reply (for errors)
        _check_url(port)
        wait = open_wait if open_wait is not None else (OPEN_WAIT_SOCKET_S if "://" in port else OPEN_WAIT_S)
        deadline = time.monotonic() + wait
        while True:
            try:
                self.ser = serial.serial_for_url(port, baudrate=baud, timeout=READ_CHUNK_S, write_timeout=timeout)
                break
            except (serial.SerialException, OSError, ValueError) as e:
                why, transient = wire.open_failure(port, e)
                if not transient or time.monotonic() + 0.25 > deadline:   # a port may be re-enumerating
                    raise DeviceLost(f"{port}: cannot open: {why}") from None
                time.sleep(0.25)

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:   # closing a link that already failed: nothing left to say
            pass

    def cancel(self) -> None:
        """From another thread: make the read or wait in progress raise Interrupted within
        READ_CHUNK_S (Ctrl-C during `tlmc test`)."""
        self._cancel.set()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the link: the one place serial exceptions become DeviceErrors --------------------------
    @contextmanager
    def _link(self, doing: str):
        import serial

        try:
            yield
        except serial.SerialTimeoutException:
            raise DeviceError(f"{self.port}: the device took nothing for {self.timeout:g} s {doing} (write "
                              "timeout); is it stuck, or is this the right port?") from None
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceLost(f"{self.port}: {wire.link_failure(e)} {doing}; {wire.lost_hint(self.port)}") from None

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Interrupted(f"{self.port}: interrupted")

    # -- lines --------------------------------------------------------------------------------
    def rx_limit(self) -> int:
        """The most bytes written before the device reads them (0: no limit): INFO's rx_max,
        else the rx_max given to the constructor."""
        try:
            return int((self._info or {}).get("rx_max", self.rx_max))
        except ValueError:
            return self.rx_max

    def in_flight(self, wanted: int) -> int:
        """Requests ahead of their replies: `wanted` where the link loses nothing, else 1."""
        return max(1, wanted) if self.rx_limit() == 0 else 1

    def send_raw(self, data: bytes) -> None:
        """Write `data`, in pieces of at most rx_limit() bytes: after each piece the OS has sent
        it (flush) and it has had its time on the wire (piece_pause at the baud rate; none on a
        socket), so no more than one buffer's worth is ever ahead of the device."""
        self._check_cancel()
        parts = wire.pieces(data, self.rx_limit())
        pause = 0.0 if len(parts) == 1 or self.port.startswith("socket://") else wire.piece_pause(len(parts[0]), self.baud)
        with self._link(f"while sending {_quote(data)}"):
            for i, part in enumerate(parts):
                if i > 0:
                    self._check_cancel()
                    time.sleep(pause)
                self.ser.write(part)
                self.ser.flush()

    def drain(self) -> None:
        """Drop whatever was received and not read yet."""
        self._rx.clear()
        with self._link("while dropping stale input"):
            self.ser.reset_input_buffer()

    def _read_chunk(self) -> bytes:
        """One byte, waiting READ_CHUNK_S at most, then whatever else has arrived, without
        waiting: whole replies per call, not a Python loop per byte (pyserial's socket:// says
        only 0 or 1 for in_waiting)."""
        got = self.ser.read(1)
        if got:
            self.ser.timeout = 0
            try:
                got += self.ser.read(1 << 16)
            finally:
                self.ser.timeout = READ_CHUNK_S
        return got

    def readline(self, timeout: float | None = None, expect: str = "reply") -> str:
        """The next line the device sends (its terminator removed), within `timeout` s (the
        device's timeout by default); `expect` says what the line is, for the error."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            end = self._rx.find(b"\n")
            if end >= 0:
                line = bytes(self._rx[:end])
                del self._rx[:end + 1]
                return line.rstrip(b"\r").decode("ascii", errors="replace")
            self._check_cancel()
            if time.monotonic() >= deadline:
                got = f" (got {bytes(self._rx[:60])!r})" if self._rx else ""
                self._heard = got[1:-1]
                raise DeviceError(f"{self.port}: no {expect} within {wait:g} s{got}; is the firmware running, "
                                  "and is this its port?")
            with self._link(f"while waiting for the {expect}"):
                self._rx += self._read_chunk()

    def request(self, line: str, timeout: float | None = None, on_stream=None) -> Reply:
        """Send one request line; collect streamed lines until the final OK/ERR."""
        if "\n" in line or "\r" in line:
            raise ValueError("a request is one line")
        t0 = time.monotonic()
        self.send_raw(line.encode("ascii", errors="strict") + b"\n")
        return self._reply(line, t0, timeout, on_stream)

    def _reply(self, line: str, t0: float, timeout: float | None, on_stream) -> Reply:
        """The lines answering request `line` (sent at t0) up to its final OK (returned) or ERR
        (raised as a DeviceReplyError)."""
        expect = f"reply to {_quote(line.encode())}"
        wait = self.timeout if timeout is None else timeout
        stream = []
        while True:
            # a streaming request (on_stream) waits `wait` s for each line; any other for all of
            # its reply, so a device that keeps sending lines that are no reply cannot hold it
            left = wait if on_stream is not None else max(0.0, t0 + wait - time.monotonic())
            try:
                got = self.readline(left, expect=expect)
            except DeviceError as e:
                if stream and type(e) is DeviceError:   # a timeout after lines that were no reply
                    self._heard = f"{len(stream)} line(s) that are no reply, the last {stream[-1][:40]!r}"
                    raise DeviceError(f"{self.port}: no OK/ERR {expect} within {wait:g} s, after {self._heard}; "
                                      "is tlmc firmware running on it?") from None
                raise
            if got.startswith("OK") and (len(got) == 2 or got[2] == " "):
                return Reply(got, stream, time.monotonic() - t0)
            if got.startswith("ERR"):
                parts = got.split(" ", 2) + ["", ""]
                raise DeviceReplyError(parts[1], parts[2], line)
            stream.append(got)
            if on_stream is not None:
                on_stream(got)

    def sync(self, within: float | None = None, say=None) -> None:
        """End any partial line on the device and drop stale input, then check that INFO
        answers: one try every HANDSHAKE_TRY_S s for `within` s in all (HANDSHAKE_S by
        default). After the first try fails, `say` (default: a line on stderr) is told what
        is awaited."""
        total = HANDSHAKE_S if within is None else within
        deadline = time.monotonic() + total
        tries = 0
        self._heard = ""
        while True:
            tries += 1
            try:
                self.send_raw(b"\n")
                time.sleep(0.05)
                self.drain()
                self._info = None
                try_s = max(0.1, min(HANDSHAKE_TRY_S, deadline - time.monotonic()))
                try:
                    self.info(timeout=try_s)
                except DeviceReplyError as e:
                    if e.code != "aborted":
                        raise
                    # a GEN or CMD that our LF stopped (docs/protocol.md, "The link") answered
                    # after the drain: INFO's own reply comes next
                    self._set_info(self._reply("INFO", time.monotonic(), try_s, None))
                return
            except DeviceReplyError as e:
                raise DeviceError(f"{self.port}: the device answered INFO with 'ERR {e.code} {e.text[:40]}'; "
                                  "it does not run tlmc firmware of this protocol: flash it (tlmc flash)") from None
            except (DeviceLost, Interrupted):
                raise
            except DeviceError:
                pass
            if time.monotonic() >= deadline:
                break
            if tries == 1:
                (say or _say)(f"{self.port}: waiting up to {total:g} s for the device to answer INFO ...")
        heard = f", it sent {self._heard}" if self._heard else ", it sent nothing"
        raise DeviceError(f"{self.port}: no answer to INFO within {total:g} s ({tries} tries{heard}); is tlmc "
                          "firmware running on it, and is this its port?")

    # -- commands -----------------------------------------------------------------------------
    def info(self, timeout: float | None = None) -> dict[str, str]:
        if self._info is None:
            self._set_info(self.request("INFO", timeout=timeout))
        return self._info

    def _set_info(self, r: Reply) -> None:
        fields = r.fields()
        if fields.get("proto") != str(PROTOCOL_VERSION):
            raise DeviceError(f"{self.port}: device speaks protocol {fields.get('proto')!r}, "
                              f"tlmc speaks {PROTOCOL_VERSION}; reflash with this tlmc")
        self._info = fields

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

        check_gen_args(max_tokens, seed, temp_milli, top_k)
        r = self.request(gen_request(prompt, max_tokens, seed, temp_milli, top_k), timeout=max(self.timeout, 60.0), on_stream=on_stream)
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

    def tokenize_many(self, texts, in_flight: int = 1) -> list:
        """tokenize() of each text, self.in_flight(in_flight) TOKENIZE lines ahead of their
        replies (docs/protocol.md, "Host rules"). Each result is the ids, or the
        DeviceReplyError of a text the device refused; a timeout raises."""
        texts = list(texts)
        batch = self.in_flight(in_flight)
        out: list = []
        for s in range(0, len(texts), batch):
            chunk = texts[s:s + batch]
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
