"""The price of memory a process touches for the first time, on this machine.

    python analysis/first_touch.py [GB]

Allocates GB gigabytes (default 5) in 200 MB numpy arrays and keeps them: every page is
new to the process, so the kernel finds and zeroes it (user time stays near zero; system
time is that work). Then the same again in a loop that frees each array before the next:
glibc returns it to the kernel and takes it back at once, pages the machine has just
used. Prints wall, user and system seconds and page faults for both. On a virtual machine
whose host hands memory back lazily, the first figure can be tens of times the second.
Used for docs/performance.md, "Memory is CPU time here".
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

ARRAY_ELEMENTS = 25_000_000  # 200 MB of float64


def measure(label: str, n: int, keep: bool) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    kept = []
    for _ in range(n):
        a = np.ones(ARRAY_ELEMENTS)
        if keep:
            kept.append(a)
        del a
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{label:<28} {n * 0.2:5.1f} GB  wall {time.perf_counter() - start:6.2f} s  "
          f"user {after.ru_utime - before.ru_utime:6.2f} s  "
          f"system {after.ru_stime - before.ru_stime:6.2f} s  "
          f"faults {after.ru_minflt - before.ru_minflt}")


def main(gigabytes: float) -> None:
    n = max(1, round(gigabytes / 0.2))
    measure("new memory, kept", n, keep=True)
    measure("freed and taken back", n, keep=False)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
