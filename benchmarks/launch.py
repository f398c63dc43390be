"""Start one command, wait for it, write its wall time, peak RSS and peak thread count.

    python benchmarks/launch.py RESULT_FILE COMMAND [ARGS...]

On Linux a child's ``ru_maxrss`` starts at its parent's resident size at fork
time (the old memory map's high-water mark survives ``exec``). The benchmark
process holds the emulator and grows past the tap's own size, so it would leak
into the tap's figure; this launcher is a bare interpreter (about 10 MiB, far
below the tap) that spawns the tap, reaps it with ``os.wait4`` and writes
``"<wall seconds> <ru_maxrss> <peak threads> <CPU seconds>"`` to RESULT_FILE
(CPU: user + system time of the command, all its threads). A sampler thread
reads ``Threads:`` of ``/proc/<pid>/status`` every 5 ms while the command runs (0
where there is no ``/proc``); the main thread blocks in ``wait4``, so the wall time
is not rounded to the sampling period. It imports nothing beyond the standard
library, and the tap inherits its stdin, stdout and stderr. Exit code: the command's.
"""

import os
import sys
import threading
import time

SAMPLE_S = 0.005


def sample_threads(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Keep in ``peak[0]`` the most threads ``pid`` was seen with until ``done``."""
    path = f"/proc/{pid}/status"
    while not done.is_set():
        try:
            with open(path, "rb") as handle:
                for line in handle:
                    if line.startswith(b"Threads:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
                        break
        except (OSError, ValueError):  # not started yet, or already gone
            pass
        done.wait(SAMPLE_S)


def main() -> int:
    """Run ``sys.argv[2:]``; write wall time, ru_maxrss, peak threads and CPU time to
    ``sys.argv[1]``."""
    result, command = sys.argv[1], sys.argv[2:]
    done, peak = threading.Event(), [0]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, dict(os.environ))
    sampler = threading.Thread(target=sample_threads, args=(pid, done, peak), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    with open(result, "w") as handle:
        cpu = usage.ru_utime + usage.ru_stime
        handle.write(f"{wall} {usage.ru_maxrss} {peak[0]} {cpu}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(main())
