"""systemd's notification socket: READY at start, WATCHDOG=1 after every cycle.

The unit sets WatchdogSec: if the loop freezes (a call that never returns despite the
timeouts), systemd kills and restarts the daemon. Outside systemd (no NOTIFY_SOCKET)
this does nothing. The protocol is one datagram per message, so no library is needed.
"""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send `message` (e.g. "WATCHDOG=1") to systemd; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):          # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False
