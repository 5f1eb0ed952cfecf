"""The host board's "serial port": `build/host/tlm --serve` on a pseudo-terminal.

The program's stdin/stdout are the pty's master side; pyserial opens the slave side
(`/dev/pts/N`) like any serial port, so the host build is tested through exactly the client
code a USB board uses.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..core.errors import TlmcError


class HostLink:
    def __init__(self, exe: Path):
        exe = Path(exe)
        if not exe.is_file():
            raise TlmcError(f"{exe}: not built; run 'tlmc build --board host' first")
        master, slave = os.openpty()
        self.port = os.ttyname(slave)
        self._slave = slave
        self.proc = subprocess.Popen([str(exe), "--serve"], stdin=master, stdout=master, stderr=subprocess.DEVNULL,
                                     close_fds=True)
        os.close(master)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def __enter__(self) -> "HostLink":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
