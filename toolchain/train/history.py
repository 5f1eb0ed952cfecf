"""The step-by-step record of a training run: `build/<stage>/history.json`.

The loop (loop.py) hands every step's loss and every validation it runs to a `History`; the
file is rewritten with each checkpoint and once more when the run ends, so `tlmc report` can
draw the run without training anything. It holds, as columns of equal length:

- `train`: `step`, `loss` (the mean training loss of the steps since the previous point; a
  point every `train_every` steps and at the last step), `lr` (the learning rate of that
  step's update, from the schedule), `seconds` (training time since the run began, earlier
  sessions of a resumed run included);
- `val`: `step`, `ce`, `ppl`, `acc`, `seconds`: the validation figures at each epoch end and at
  `val_every` steps in between (the same 20,000-target sample every time);
- `final`: the end-of-run figures of metrics.json (full validation set), once finished.

A resumed run keeps one consistent history: the saved file is cut back to the checkpoint's
step (a point recorded after it is dropped, since those steps are run again) and the losses
since the last point travel in `pending`, so the points after a resume are the points an
uninterrupted run would have recorded. Recording reads values the loop computes anyway and
never touches the model, so training numerics do not depend on it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..core.fsutil import atomic_write_json, read_json

TRAIN_POINTS = 400  # about this many training-loss points per run
VAL_POINTS = 8      # validations spread over a run (besides the epoch ends): ~2 s each on the default model
TRAIN_KEYS = ("step", "loss", "lr", "seconds")
VAL_KEYS = ("step", "ce", "ppl", "acc", "seconds")
FILE = "history.json"


def every(total: int, points: int) -> int:
    """Steps between two points when `points` are spread over `total` steps."""
    return max(1, -(-int(total) // points))


class History:
    def __init__(self, path: Path, stage: str, run_hash: str, total: int, per_epoch: int, batch: int):
        self.path = Path(path)
        self.stage, self.hash = stage, run_hash
        self.total, self.per_epoch, self.batch = int(total), int(per_epoch), int(batch)
        self.train_every = every(total, TRAIN_POINTS)
        self.val_every = every(total, VAL_POINTS)
        self.train: dict[str, list] = {k: [] for k in TRAIN_KEYS}
        self.val: dict[str, list] = {k: [] for k in VAL_KEYS}
        self.pending: list[float] = []  # losses since the last training point
        self.resumed_at: list[int] = []
        self.seconds_before = 0.0  # training time of earlier sessions of this run
        self.t0 = time.monotonic()

    @classmethod
    def start(cls, path: Path, stage: str, run_hash: str, total: int, per_epoch: int, batch: int,
              step: int) -> "History":
        """A new history at step 0, or the saved one of the same run cut back to `step` (a resume)."""
        h = cls(path, stage, run_hash, total, per_epoch, batch)
        if step <= 0:
            return h
        try:
            old = read_json(h.path)
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or old.get("hash") != run_hash or old.get("steps") != h.total:
            h.resumed_at.append(int(step))
            return h
        for table, keys, saved in ((h.train, TRAIN_KEYS, old.get("train", {})), (h.val, VAL_KEYS, old.get("val", {}))):
            keep = [i for i, s in enumerate(saved.get("step", [])) if s <= step]
            for k in keys:
                table[k] = [saved[k][i] for i in keep]
        # pending losses are exact only if the file was written at the checkpoint's own step
        h.pending = list(old.get("pending", [])) if old.get("step") == step else []
        h.seconds_before = float(old.get("seconds", 0.0)) if old.get("step") == step else (
            float(h.train["seconds"][-1]) if h.train["seconds"] else 0.0)
        h.resumed_at = [s for s in old.get("resumed_at", []) if s <= step] + [int(step)]
        return h

    def seconds(self) -> float:
        return self.seconds_before + time.monotonic() - self.t0

    def add_loss(self, step: int, loss: float, lr_at: Callable[[int], float]) -> None:
        """The loss of step `step` (1-based: `step` updates done); a point when one is due."""
        self.pending.append(float(loss))
        if step % self.train_every == 0 or step == self.total:
            for k, v in zip(TRAIN_KEYS, (int(step), sum(self.pending) / len(self.pending), float(lr_at(step - 1)),
                                         round(self.seconds(), 3))):
                self.train[k].append(v)
            self.pending = []

    def val_due(self, step: int) -> bool:
        """A validation between epoch ends is due at this step (epoch ends validate anyway)."""
        return step % self.val_every == 0 and step % self.per_epoch != 0 and step != self.total

    def add_val(self, step: int, val: dict) -> None:
        if self.val["step"] and self.val["step"][-1] == step:
            return
        for k, v in zip(VAL_KEYS, (int(step), val["ce"], val["ppl"], val["acc"], round(self.seconds(), 3))):
            self.val[k].append(v)

    def to_json(self, step: int, final: dict | None = None) -> dict:
        return {"stage": self.stage, "hash": self.hash, "steps": self.total, "steps_per_epoch": self.per_epoch,
                "batch": self.batch, "train_every": self.train_every, "val_every": self.val_every,
                "step": int(step), "finished": final is not None, "seconds": round(self.seconds(), 3),
                "resumed_at": self.resumed_at, "train": self.train, "val": self.val,
                "pending": [] if final is not None else self.pending, "final": final}

    def save(self, step: int, final: dict | None = None) -> None:
        atomic_write_json(self.path, self.to_json(step, final))
