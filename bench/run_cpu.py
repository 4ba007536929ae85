"""Where a long command's CPU goes: what `time` sees of it, and what the machine spent meanwhile.

    flock /tmp/orderdesk-sandbox.lock .venv/bin/python bench/run_cpu.py -- env CI=true bash .ci/run

`/usr/bin/time` counts only the processes the command waited for. The engine's containers (the
clean room's jobs, BuildKit) and the node's pods run under daemons it never reaps, so on a run of
.ci/run it misses a third of the work. The machine's own counter (cgroup v1 cpuacct or v2
cpu.stat at the root) sees everything, including whatever else runs meanwhile: keep the machine
otherwise quiet. The figures say whether the run is CPU-bound (the cores' busy share) and the
least time its CPU could take on this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess  # nosec B404 - runs the command given on the command line
import sys
import time
from pathlib import Path

CPUACCT_V1 = Path("/sys/fs/cgroup/cpuacct/cpuacct.usage")
CPU_STAT_V2 = Path("/sys/fs/cgroup/cpu.stat")


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine has used since boot, in seconds."""
    if CPUACCT_V1.is_file():
        return int(CPUACCT_V1.read_text()) / 1e9
    for line in CPU_STAT_V2.read_text().splitlines():
        name, value = line.split()
        if name == "usage_usec":
            return int(value) / 1e6
    raise SystemExit(f"no CPU counter at {CPUACCT_V1} or {CPU_STAT_V2}")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="+", help="the command, after --")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    machine, counted, started = machine_cpu_seconds(), children_cpu_seconds(), time.monotonic()
    status = subprocess.run(args.command, check=False).returncode  # nosec B603
    wall = time.monotonic() - started
    machine = machine_cpu_seconds() - machine
    counted = children_cpu_seconds() - counted
    busy = machine / wall / cores
    elsewhere = machine - counted
    print(f"command exit {status}")
    print(f"wall                      {wall / 60:7.1f} min")
    print(f"machine CPU               {machine / 60:7.1f} CPU-min ({busy:.0%} of {cores} cores)")
    print(f"  in processes it reaped  {counted / 60:7.1f} CPU-min (what /usr/bin/time reports)")
    print(f"  elsewhere               {elsewhere / 60:7.1f} CPU-min (containers, pods, the rest)")
    print(f"least wall for that CPU   {machine / cores / 60:7.1f} min on {cores} cores")
    return status


if __name__ == "__main__":
    sys.exit(main())
