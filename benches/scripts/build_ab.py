#!/usr/bin/env python3
"""A/B loop for `crier build`: several binaries, run in turn, each into a fresh folder.

    benches/scripts/build_ab.py RUNS BINARY [BINARY ...]

Each round runs every binary once, in the order given, so that a change in the
machine's load falls on all of them alike. Every build writes into a new folder under
$OUT_BASE (default /dev/shm, tmpfs), which is removed right after. Prints, per binary,
the median wall time (and the fastest), and the median user + system CPU, measured
with `getrusage` of the finished child.

Environment: CONFIG (default target/bench-hugo/crier.toml, which
benches/scripts/hugo_compare.sh writes), OUT_BASE. A binary may be a wrapper script
that sets environment variables (e.g. `_RJEM_MALLOC_CONF`) and execs crier.
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    binaries = sys.argv[2:]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    config = os.environ.get("CONFIG", os.path.join(repo, "target/bench-hugo/crier.toml"))
    out_base = os.environ.get("OUT_BASE", "/dev/shm")
    results = {binary: [] for binary in binaries}
    for _ in range(runs):
        for binary in binaries:
            out = tempfile.mkdtemp(prefix="build-ab.", dir=out_base)
            os.sync()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                [binary, "--config", config, "build", "--out", os.path.join(out, "site")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            user = after.ru_utime - before.ru_utime
            system = after.ru_stime - before.ru_stime
            results[binary].append((wall, user, system))
            shutil.rmtree(out)
    for binary, rows in results.items():
        walls = [r[0] for r in rows]
        print(
            f"{os.path.basename(binary):20} wall {statistics.median(walls):.3f} s "
            f"(fastest {min(walls):.3f})  CPU {statistics.median(r[1] + r[2] for r in rows):.3f} s "
            f"(user {statistics.median(r[1] for r in rows):.3f}, "
            f"sys {statistics.median(r[2] for r in rows):.3f})  runs {len(rows)}"
        )


if __name__ == "__main__":
    main()
