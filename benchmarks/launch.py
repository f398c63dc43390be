"""Start one command, wait for it, write its wall time and peak RSS: a clean parent.

    python benchmarks/launch.py RESULT_FILE COMMAND [ARGS...]

On Linux a child's ``ru_maxrss`` starts at its parent's resident size at fork
time (the old memory map's high-water mark survives ``exec``). The benchmark
process holds the emulator and grows past the tap's own size, so it would leak
into the tap's figure; this launcher is a bare interpreter (about 10 MiB, far
below the tap) that spawns the tap, reaps it with ``os.wait4`` and writes
``"<wall seconds> <ru_maxrss>"`` to RESULT_FILE. It imports nothing else, and the
tap inherits its stdin, stdout and stderr. Exit code: the command's.
"""

import os
import sys
import time


def main() -> int:
    """Run ``sys.argv[2:]``; write wall time and ru_maxrss to ``sys.argv[1]``."""
    result, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, dict(os.environ))
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    with open(result, "w") as handle:
        handle.write(f"{wall} {usage.ru_maxrss}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(main())
