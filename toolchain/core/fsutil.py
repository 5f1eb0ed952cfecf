"""Atomic file output, content hashing, and reads that check what they read.

Writers: readers see either the old file or the whole new one; a generated file gets the
mode an ordinary file would (0666 less the umask: 0644 usually), and an operating-system
refusal (read-only folder, disk full, permission) is a one-line `FileError` naming the file.

Readers (`read_bytes`, `read_json`, `load_npz`): a file of a stage folder is checked against
the content hash the stage recorded in the folder's `stamp.json` (`write_stamp`) and against
the shape it must have (core/stages.py); a file that fails is a `Damaged` error naming it and
the command that rebuilds it, never a traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import Damaged, FileError, os_error_message
from . import stages

STAMP = "stamp.json"
_umask_cache: list[int] = []


def file_mode() -> int:
    """The mode a new file gets from open(): 0666 less the process umask (read without changing
    it, from /proc; os.umask only where /proc is absent)."""
    if not _umask_cache:
        mask = None
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Umask:"):
                        mask = int(line.split()[1], 8)
        except (OSError, ValueError):
            pass
        if mask is None:
            mask = os.umask(0o022)
            os.umask(mask)
        _umask_cache.append(mask)
    return 0o666 & ~_umask_cache[0]


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise FileError(os_error_message(e, e.filename if e.filename and not str(e.filename).endswith(".tmp")
                                         else path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), file_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise FileError(os_error_message(e, path)) from None
        raise


def check_writable(folder: Path | str, need_bytes: int = 0) -> None:
    """Before a long step whose outputs go to `folder`: FileError (one line) now, rather than
    after the work, when the folder cannot be written or its disk has less than `need_bytes`
    free."""
    import shutil

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(tmp)
        free = shutil.disk_usage(folder).free
    except OSError as e:
        raise FileError(os_error_message(e, folder)) from None
    if free < need_bytes:
        raise FileError(f"{folder}: {free / 1e6:,.1f} MB free on its disk, this step writes about "
                        f"{need_bytes / 1e6:,.1f} MB; free some space (build/ can be deleted: tlmc rebuilds it) "
                        f"and run the command again")


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_npz(path: Path | str, **arrays: Any) -> None:
    """np.savez into a temp file, then rename (np.savez appends .npz to names without it)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_json(obj: Any) -> str:
    """Stable hash of a JSON-able value (keys sorted)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())[:16]


# ---------------------------------------------------------------------------------------------
# Checked reads

def damaged(path: Path | str, why: str) -> Damaged:
    return Damaged(Path(path), why, stages.rebuild_command(path))


def _recorded_hash(path: Path) -> str | None:
    """The content hash the stamp of `path`'s folder recorded for it (None: not recorded)."""
    stamp = path.parent / STAMP
    if path.name == STAMP:
        return None
    try:
        obj = json.loads(stamp.read_bytes())
    except (OSError, ValueError):
        return None  # no stamp, or a damaged one: the stage's own check names it
    files = obj.get("files") if isinstance(obj, dict) else None
    return files.get(path.name) if isinstance(files, dict) else None


def read_bytes(path: Path | str) -> bytes:
    """The bytes of `path`, checked against its stage's recorded content hash. A missing file
    raises FileNotFoundError (callers that expect it check first and say what makes it),
    unless its stage recorded it: then it is Damaged."""
    path = Path(path)
    want = _recorded_hash(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if want is not None:
            raise damaged(path, "missing, though its stage recorded it") from None
        raise
    if want is not None and sha256_bytes(data) != want:
        raise damaged(path, f"its content differs from what '{stages.make_command(path)}' wrote")
    return data


def read_json(path: Path | str, kind: type | None = dict, keys: tuple[str, ...] = ()) -> Any:
    """A JSON file, checked: valid JSON of `kind` (an object unless told otherwise) holding the
    keys core/stages.py lists for it and `keys`; else Damaged."""
    path = Path(path)
    data = read_bytes(path)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise damaged(path, "empty" if not data.strip() else "not valid JSON") from None
    if kind is not None and not isinstance(obj, kind):
        raise damaged(path, f"holds {type(obj).__name__ if obj is not None else 'null'}, not {kind.__name__}")
    want = (*(stages.shape_key(path, stages.JSON_KEYS) or ()), *keys) if isinstance(obj, dict) else ()
    missing = [k for k in dict.fromkeys(want) if k not in obj]
    if missing:
        raise damaged(path, f"lacks {', '.join(repr(k) for k in missing)}")
    return obj


def load_npz(path: Path | str) -> dict[str, Any]:
    """Every array of an .npz file, read eagerly and checked against the arrays and dimensions
    core/stages.py lists for it; else Damaged."""
    import zipfile
    import zlib

    import numpy as np

    path = Path(path)
    data = read_bytes(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("not an archive")
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        raise damaged(path, "empty" if not data else "not a readable .npz archive") from None
    except AttributeError:  # np.load of a bare .npy has no context manager
        raise damaged(path, "not an .npz archive") from None
    for name, ndim in (stages.shape_key(path, stages.NPZ_ARRAYS) or {}).items():
        if name not in arrays:
            raise damaged(path, f"lacks the array {name!r}")
        if ndim is not None and arrays[name].ndim != ndim:
            raise damaged(path, f"array {name!r} has {arrays[name].ndim} dimensions, not {ndim}")
    return arrays


# ---------------------------------------------------------------------------------------------
# Stamps: what a stage wrote, from which inputs

def write_stamp(out: Path | str, h: str, files: tuple[str, ...] | list[str] = (), inputs: Any = None,
                **extra: Any) -> None:
    """Record in out/stamp.json (written last) that `out` holds the outputs of the inputs
    hashed `h`: the inputs themselves (to say later which one changed) and the content hash of
    each of `files` (to find a damaged one before use)."""
    out = Path(out)
    rec: dict[str, Any] = {"hash": h, **extra}
    if inputs is not None:
        rec["inputs"] = inputs
    rec["files"] = {name: sha256_file(out / name) for name in files if (out / name).is_file()}
    atomic_write_json(out / STAMP, rec)


def read_stamp(out: Path | str) -> dict | None:
    """out/stamp.json (None if there is none); Damaged if it cannot be read."""
    p = Path(out) / STAMP
    if not p.is_file():
        return None
    stamp = read_json(p)
    if not isinstance(stamp["hash"], str):
        raise damaged(p, "its 'hash' is not a string")
    return stamp


def stamp_status(out: Path | str, h: str, required: tuple[str, ...] = (), inputs: Any = None,
                 labels: dict[str, str] | None = None, record: tuple[str, ...] = ()) -> str | None:
    """None when `out` holds the intact outputs of the inputs hashed `h`; else why not: "not
    built", or which input changed (`inputs` against the stamp's, core.stages.describe_change).
    Raises Damaged when the stamp, a file it recorded or a `required` file is damaged or gone.
    A current stamp from before tlmc recorded content hashes gets those of `record` now (when
    the folder is writable), so an old build is checked from then on."""
    out = Path(out)
    stamp = read_stamp(out)
    if stamp is None:
        return "not built"
    if stamp["hash"] != h:
        if inputs is None:
            return "its inputs changed"
        return stages.describe_change(stamp.get("inputs"), inputs, labels)
    if "files" not in stamp and record and all((out / r).is_file() for r in required):
        try:
            write_stamp(out, h, record, inputs, **{k: v for k, v in stamp.items() if k not in ("hash", "inputs")})
        except FileError:
            pass  # a read-only build is checked by shape only
        stamp = read_stamp(out) or stamp
    files = stamp.get("files") if isinstance(stamp.get("files"), dict) else {}
    for name in [*files, *[r for r in required if r not in files]]:
        p = out / name
        if not p.is_file():
            raise damaged(p, "missing, though its stage recorded it" if name in files else "missing")
        if name in files and sha256_file(p) != files[name]:
            raise damaged(p, f"its content differs from what '{stages.make_command(p)}' wrote")
    return None


class captured_fds:
    """Send what C code prints on fds 1 and 2 to a temp file (TFLM and the TFLite converter
    print from C++); `.text` holds it afterwards, for error messages."""

    def __enter__(self):
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile()
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(self._tmp.fileno(), 1)
        os.dup2(self._tmp.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        return False
