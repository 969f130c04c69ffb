"""Starting real servers on loopback for the load test and the benchmark."""

import http.client
import socket
import time

from django.core.management.base import CommandError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(port: int, path: str = "/healthz", seconds: float = 60) -> None:
    """Until ``path`` answers 200 on 127.0.0.1:``port``; a CommandError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.3)
    raise CommandError(f"nothing answered 200 on 127.0.0.1:{port}{path} within {seconds:.0f} s")
