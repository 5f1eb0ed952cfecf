"""The two interpreters tlmc trusts, behind one small interface.

- LiteRT (ai-edge-litert; tflite-runtime only as a fallback where ai-edge-litert is absent,
  because tflite-runtime 2.14.0, its last release, cannot load under numpy 2): fast float and
  int8 evaluation. Never TF's default `tf.lite.Interpreter`, whose XNNPACK int8 BATCH_MATMUL
  ignores the right operand's zero point in TF 2.21.
- TFLM (the `tflite_micro` package, TFLM's reference kernels): the ground truth the C runtime
  matches byte for byte, and the arena size a microcontroller would need.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import UsageError
from ..core.fsutil import captured_fds


def litert(buf: bytes):
    """A LiteRT interpreter over a .tflite buffer, tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - only where ai-edge-litert is missing
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore
        except ImportError:
            raise UsageError("no TFLite interpreter: pip install ai-edge-litert") from None
    with captured_fds():  # LiteRT announces its XNNPACK delegate on stderr
        it = Interpreter(model_content=bytes(buf), num_threads=1)
        it.allocate_tensors()
    return it


class Runner:
    """Run a single-input single-output model one window at a time (LiteRT or TFLM)."""

    def __init__(self, buf: bytes, engine: str = "litert", arena_size: int | None = None):
        self.engine = engine
        if engine == "litert":
            self.it = litert(buf)
            self._in = self.it.get_input_details()[0]["index"]
            self._out = self.it.get_output_details()[0]["index"]
        elif engine == "tflm":
            self.it = tflm(buf, arena_size)
        else:
            raise ValueError(engine)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: [K] int32 window -> raw output row (int8 or float32)."""
        x = np.asarray(x, np.int32).reshape(1, -1)
        if self.engine == "litert":
            self.it.set_tensor(self._in, x)
            self.it.invoke()
            return self.it.get_tensor(self._out)[0].copy()
        self.it.set_input(x, 0)
        self.it.invoke()
        return np.asarray(self.it.get_output(0))[0].copy()

    def batch(self, xs: np.ndarray) -> np.ndarray:
        return np.stack([self(x) for x in xs])


def tflm(buf: bytes, arena_size: int | None = None):
    """A tflite_micro interpreter. A model TFLM cannot run raises UsageError naming the reason."""
    from tflite_micro.python.tflite_micro import runtime

    with captured_fds() as out:
        try:
            return runtime.Interpreter.from_bytes(bytes(buf), arena_size=arena_size or max(1 << 16, len(buf) * 4))
        except Exception as e:  # TFLM reports refused ops and failed allocation as RuntimeError
            err = e
    said = " ".join((out.text + " " + str(err)).split())
    raise UsageError(f"TFLM refuses the model: {said[:300]}")


def tflm_arena(buf: bytes) -> dict[str, int]:
    """The arena TFLM needs for the model, from its RecordingMicroAllocator: `total` bytes,
    `head` (activations, the non-persistent part) and `tail` (persistent: tensor structs,
    kernel data). Probing smaller arenas instead crashes some tflite_micro builds."""
    import re

    it = tflm(buf)
    with captured_fds() as out:
        it.print_allocations()
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", out.text))
    if "total" not in found:
        raise UsageError("TFLM did not report its arena allocation; tflite-micro may be too old or too new")
    return {k: int(v) for k, v in found.items()}
