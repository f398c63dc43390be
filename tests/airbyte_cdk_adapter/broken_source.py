"""``source-indigo-analytics`` with two answers broken, for tests/test_airbyte_cdk.py.

    python tests/airbyte_cdk_adapter/broken_source.py COMMAND ARGS...

Runs the real source (this interpreter's install) and changes what it prints: every
RECORD's ``date`` becomes a number, and every CONNECTION_STATUS says SUCCEEDED. The CDK
suite must fail on both, or its passing says nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SOURCE = Path(sys.executable).parent / "source-indigo-analytics"


def broken(message: dict[str, Any]) -> dict[str, Any]:
    if message["type"] == "RECORD":
        message["record"]["data"]["date"] = 20261202
    elif message["type"] == "CONNECTION_STATUS":
        message["connectionStatus"] = {"status": "SUCCEEDED"}
    return message


def main() -> int:
    with subprocess.Popen([str(SOURCE), *sys.argv[1:]], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(json.dumps(broken(json.loads(line))), flush=True)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
