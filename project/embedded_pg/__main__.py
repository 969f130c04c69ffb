"""Start, stop or inspect the embedded server: python -m project.embedded_pg {start,status,stop}."""

import os
import sys
from pathlib import Path

from .server import EmbeddedServer, EmbeddedServerError

PGDATA = Path(os.getenv("EMBEDDED_PGDATA", Path(__file__).resolve().parents[2] / "var" / "pgdata"))


def main(action: str, pgdata: Path = PGDATA) -> int:
    server = EmbeddedServer(pgdata)
    try:
        if action == "start":
            address = server.ensure_running()
            print(f"The embedded server is running (socket in {address.host}).")
        elif action == "stop":
            print("Stopped the embedded server." if server.stop() else "The embedded server is not running.")
        else:
            print(server.status())
    except EmbeddedServerError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("start", "status", "stop"):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
