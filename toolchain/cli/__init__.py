"""The `tlmc` command line: thin click commands over library functions, one module per part of
the pipeline (project, grammar, model, firmware, device), registered on one group here.

Nothing heavy is imported at module level, so `tlmc --help` stays fast; TensorFlow loads only
inside the stages that train or convert. Every `TlmcError` becomes one line on stderr with its
exit code (2 for usage and config errors), never a traceback.
"""

from __future__ import annotations

import click

from .. import __version__
from . import device, firmware, grammar, model, project, report
from .common import per_token_line  # noqa: F401  (tests and scripts reach it here)


class _OneLineUsage(click.ClickException):
    """A click usage error (bad option value, unknown option or command) as one line on stderr,
    like every other tlmc error: "error: <what>; see 'tlmc <command> --help'", exit 2."""

    exit_code = 2

    def __init__(self, e: click.UsageError):
        where = e.ctx.command_path if e.ctx is not None else "tlmc"
        super().__init__(f"{e.format_message().rstrip('.')}; see '{where} --help'")

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _Group(click.Group):
    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as e:
            raise _OneLineUsage(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            raise _OneLineUsage(e) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlmc")
def main() -> None:
    """tlmc: train a tiny language model, quantize it to int8 and run it on a microcontroller.

    \b
    Typical flow (in a project folder):
      tlmc init myproj && cd myproj
      tlmc train        # data + training (resumable)
      tlmc quantize     # full-int8 .tflite, float vs int8 report, golden vectors
      tlmc train --teacher; tlmc synth; tlmc distill; tlmc eval   # with a [teacher]
      tlmc generate --prompt "turn off the" --int8
      tlmc info
      tlmc build --board host; tlmc test --board host; tlmc report
    """


for _part in (project, grammar, model, firmware, device, report):
    for _command in _part.COMMANDS:
        main.add_command(_command)
