"""The host board's "serial port": `build/host/tlm --serve` on a pseudo-terminal.

The program's stdin/stdout are the pty's master side; pyserial opens the slave side
(`/dev/pts/N`) like any serial port, so the host build is tested through exactly the client
code a USB board uses.

The program never outlives the link: it is a `core.children` child (its own process group,
SIGTERM when the thread that started it ends, a watcher for when this process dies), and it
ends by itself once every copy of the slave side is closed (its reads then fail with EIO:
firmware/ports/host/port_host.c). Start a HostLink from a thread that lives as long as the link.

The HostLink keeps a copy of the slave side open, so a client that closes the port and opens
it again finds the same program: in between, what the program writes fills the pty (about
20 KiB) and then goes nowhere, as on a USB CDC port whose host closed it or stopped reading
(docs/protocol.md, "The link").
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..core import children
from ..core.errors import TlmcError


class HostLink:
    def __init__(self, exe: Path, args: tuple[str, ...] = ()):
        """`args` go after `--serve` (e.g. ("--rx-max", "63"): firmware/ports/host/main.c)."""
        exe = Path(exe)
        if not exe.is_file():
            raise TlmcError(f"{exe}: not built; run 'tlmc build --board host' first")
        master, slave = os.openpty()
        try:
            self.port = os.ttyname(slave)
            self._child = children.spawn([str(exe), "--serve", *args], stdin=master, stdout=master,
                                         stderr=subprocess.DEVNULL)
        except BaseException:
            os.close(slave)
            raise
        finally:
            os.close(master)
        self._slave: int | None = slave
        self.proc = self._child.proc

    def stop(self) -> None:
        """End the program (and reap it) and close the pty. Safe to call twice."""
        self._child.stop()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def __enter__(self) -> "HostLink":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
