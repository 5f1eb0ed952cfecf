"""Errors meant for people.

Every error a user can cause is a `TlmcError` whose message is one line naming the problem and
the fix. The CLI prints it without a traceback; `UsageError` and `ConfigError` exit 2, other
`TlmcError`s exit 1.
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
