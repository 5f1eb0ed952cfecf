"""The protocol's lines as text (docs/protocol.md): escaping, the request lines the host
sends, a final reply's fields. No I/O: toolchain/link/client.py sends and reads them.

GEN's value ranges are the ones the host generates under (export/sampling.py GEN_*), which are
firmware/tlm_protocol.c's: the host refuses any other value before sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import UsageError
from ..export import sampling

LINE_MAX = 256              # bytes of a request line when INFO does not say (line_max)


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


def check_gen_args(max_tokens: int, seed: int, temp_milli: int, top_k: int) -> None:
    """UsageError (exit 2) for a GEN value the device would refuse, before anything is sent."""
    temp_milli_max = int(sampling.GEN_TEMPERATURE[1] * 1000)
    for name, value, (lo, hi) in (("tokens", max_tokens, sampling.GEN_TOKENS), ("seed", seed, sampling.GEN_SEED),
                                  ("temperature (thousandths)", temp_milli, (0, temp_milli_max)),
                                  ("top-k", top_k, sampling.GEN_TOP_K)):
        if not lo <= int(value) <= hi:
            raise UsageError(f"{name} {value}: the device takes {lo} to {hi} (docs/protocol.md, GEN)")


def gen_request(prompt: str, max_tokens: int, seed: int = 1, temp_milli: int = 0, top_k: int = 0) -> str:
    """The GEN request line for these values: what Device.generate sends. The prompt is
    escape_text'ed: a space at either end travels as `\\s`, as the device takes the text
    after one separator literally."""
    line = f"GEN {max_tokens} {seed} {temp_milli} {top_k}"
    return line + " " + escape_text(prompt) if prompt else line


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
