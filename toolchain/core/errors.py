"""Errors meant for people.

Every error a user can cause is a `TlmcError` whose message is one line naming the problem and
the fix. The CLI prints it without a traceback; `UsageError` and `ConfigError` exit 2 (fix the
command line or tlm.toml), other `TlmcError`s exit 1 (something to build, rebuild or free
first: `NotBuilt`, `Stale`, `Damaged`, `Busy`, `FileError`); an interrupt exits 130. README,
"Faults", has the table.
"""


class TlmcError(Exception):
    """A failure with a one-line, human message. Exit code 1."""

    exit_code = 1


class UsageError(TlmcError):
    """Bad arguments or a bad input file. Exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A bad value in tlm.toml. Exit code 2."""


class ExportError(UsageError):
    """A model that cannot be exported or compiled as asked (e.g. a float island). Exit code 2."""


class NotBuilt(TlmcError):
    """An artifact an earlier stage makes is missing: the message names it and the command that
    makes it. Exit code 1, from every command (docs: README, "Exit codes")."""


class Stale(TlmcError):
    """An artifact was made from an older tlm.toml than the one in the project: the message
    names the input that changed and the command that rebuilds it. Exit code 1."""


class Damaged(TlmcError, ValueError):
    """An artifact in build/ is unreadable, has the wrong shape, or differs from the content
    hash its stage recorded: the message names the file and the command that rebuilds it.
    Exit code 1. A ValueError too, so code that treats unparsable input as absent still does."""

    def __init__(self, path, why: str, rebuild: str):
        self.path, self.why, self.rebuild = path, why, rebuild
        super().__init__(f"{path} is damaged ({why}); run '{rebuild}' to rebuild it")


class Busy(TlmcError):
    """Another tlmc command holds the project's lock (core/lock.py). Exit code 1."""


class FileError(TlmcError):
    """The operating system refused a file operation (read-only folder, disk full, permission,
    missing file): one line naming the path and what to do. Exit code 1."""


def os_error_message(e: OSError, path=None) -> str:
    """One line for an OSError: the path, what happened and what to do about it."""
    import errno as _errno

    where = str(path if path is not None else (e.filename or e.filename2 or "")) or "a file"
    code = e.errno
    if code == _errno.EROFS:
        return f"{where}: the file system is read-only; make the project folder writable or copy it somewhere writable"
    if code in (_errno.ENOSPC, getattr(_errno, "EDQUOT", -1)):
        return (f"{where}: no space left on the device; free some space (build/ can be deleted: tlmc rebuilds it) "
                f"and run the command again")
    if code in (_errno.EACCES, _errno.EPERM):
        return f"{where}: permission denied; check the owner and mode of the file and its folder"
    if code == _errno.ENOENT:
        return f"{where}: no such file or directory; check the path"
    if code == _errno.ENOTDIR:
        return f"{where}: a part of the path is a file, not a folder; check the path"
    if code == _errno.EISDIR:
        return f"{where}: is a folder, not a file; check the path"
    if code == _errno.EMFILE or code == _errno.ENFILE:
        return f"{where}: too many open files; close other programs or raise the limit (ulimit -n)"
    reason = e.strerror or type(e).__name__
    return f"{where}: {reason[0].lower() + reason[1:]}"
