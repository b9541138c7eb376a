"""Resident memory and CPU time of one `burden` command over its run, with where it was.

    python analysis/memory_timeline.py summarise deaths
    python analysis/memory_timeline.py attribute

Runs the command in this process (``burden.cli.main``) while a thread samples, every 0.1 s,
the resident set (``/proc/self/status``), user and system CPU time, and the innermost four
``burden`` frames of the main thread's stack. Prints a line each time that place changes,
then the peak. A rise in system time where the resident set grows is the kernel zeroing
memory touched for the first time (``python analysis/first_touch.py`` measures its price
on a machine). Linux only. Used for docs/performance.md, "Memory is CPU time here".
"""

from __future__ import annotations

import resource
import sys
import threading
import time
import traceback
from pathlib import Path

INTERVAL_S = 0.1


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def where(frame) -> str:
    """The innermost four frames of the ``burden`` package (module.function:line)."""
    frames = [f for f in traceback.extract_stack(frame) if "/burden/" in f.filename]
    return " > ".join(f"{Path(f.filename).stem}.{f.name}:{f.lineno}" for f in frames[-4:])


def main(argv: list[str]) -> int:
    from burden.cli import main as burden_main

    samples: list[tuple[float, float, float, float, str]] = []
    main_id, done = threading.main_thread().ident, threading.Event()

    def sample() -> None:
        start = time.perf_counter()
        while not done.is_set():
            frame = sys._current_frames().get(main_id)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            samples.append((time.perf_counter() - start, resident_mb(), usage.ru_utime,
                            usage.ru_stime, where(frame) if frame is not None else ""))
            time.sleep(INTERVAL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        code = burden_main(argv)
    except SystemExit as exit_:  # argparse's exits
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        done.set()
        sampler.join()
    print(f"{'time s':>7} {'resident MB':>11} {'user s':>7} {'system s':>8}  where")
    last = None
    for t, rss, user, system, place in samples:
        if place != last:
            print(f"{t:7.1f} {rss:11.0f} {user:7.1f} {system:8.1f}  {place}")
            last = place
    print(f"peak resident set {max(s[1] for s in samples):.0f} MB; "
          f"user {samples[-1][2]:.1f} s, system {samples[-1][3]:.1f} s")
    return code or 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
