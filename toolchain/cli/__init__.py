"""The `tlmc` command line: thin click commands over library functions, one module per part of
the pipeline (project, model, firmware, device), registered on one group here.

Nothing heavy is imported at module level, so `tlmc --help` stays fast; TensorFlow loads only
inside the stages that train or convert. Every `TlmcError` becomes one line on stderr with its
exit code (2 for usage and config errors), never a traceback.
"""

from __future__ import annotations

import click

from .. import __version__
from . import device, firmware, model, project
from .common import per_token_line  # noqa: F401  (tests and scripts reach it here)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    """


for _part in (project, model, firmware, device):
    for _command in _part.COMMANDS:
        main.add_command(_command)
