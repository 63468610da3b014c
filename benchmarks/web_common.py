"""What the two web benchmarks share: the machine description, how busy the rest of
the machine is, and writing one section of WEB_RESULTS.md without touching the other."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "WEB_RESULTS.md"
IDLE_LOAD = 0.3
"""Cores' worth of CPU other processes may use for the machine to count as idle."""
IDLE_SAMPLE_S = 3.0
IDLE_POLL_S = 20.0


def use_e2e_harness() -> None:
    """Put the E2E harness (server subprocess, videos, Chromium) on the import path:
    it lives with the tests, which the benchmarks measure the same way."""
    for folder in (REPO / "tests" / "e2e", REPO / "tests"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def machine_info() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    try:
        chromium = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        chromium = "not installed"
    return {
        "CPU": models[0] if models else platform.processor() or "unknown",
        "nproc": str(os.cpu_count()),
        "RAM": f"{total_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Chromium": chromium or "unknown",
    }


def cpu_busy_seconds() -> float:
    """Non-idle CPU time of the whole machine since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system, live processes and their reaped children) of ``root``
    and every process below it."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; it ends at the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        times[pid] = (utime + stime + cutime + cstime) / tick
    total = 0.0
    for pid, seconds in times.items():
        walk = pid
        while walk not in (0, 1) and walk != root:
            walk = parents.get(walk, 0)
        if walk == root:
            total += seconds
    return total


@dataclass
class LoadMeter:
    """CPU used by other processes while something of ours runs: the machine's busy
    time minus our process tree's (this process and everything it started)."""

    busy: float = 0.0
    ours: float = 0.0
    started: float = 0.0

    def start(self) -> None:
        self.busy, self.ours = cpu_busy_seconds(), tree_cpu_seconds(os.getpid())
        self.started = time.monotonic()

    def other_cores(self) -> float:
        wall = max(time.monotonic() - self.started, 1e-6)
        busy = cpu_busy_seconds() - self.busy
        ours = tree_cpu_seconds(os.getpid()) - self.ours
        return max(0.0, (busy - ours) / wall)

    def our_cores(self) -> float:
        wall = max(time.monotonic() - self.started, 1e-6)
        return (tree_cpu_seconds(os.getpid()) - self.ours) / wall


@dataclass
class IdleWaiter:
    """Waits, within one time budget for the whole run, for the rest of the machine
    to use at most ``IDLE_LOAD`` cores (sampled while our own processes are idle)."""

    deadline: float
    waited_s: float = 0.0

    def wait(self) -> float:
        started = time.monotonic()
        while True:
            busy = cpu_busy_seconds()
            time.sleep(IDLE_SAMPLE_S)
            load = (cpu_busy_seconds() - busy) / IDLE_SAMPLE_S
            if load <= IDLE_LOAD or time.monotonic() >= self.deadline:
                self.waited_s += time.monotonic() - started
                return load
            print(f"  waiting: the machine is busy ({load:.2f} cores) …", flush=True)
            time.sleep(min(IDLE_POLL_S, max(0.0, self.deadline - time.monotonic())))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def write_section(path: Path, name: str, lines: list[str]) -> None:
    """Replace the ``name`` section of ``path`` (between HTML comment markers), or
    append it; the other benchmark's section stays as it is."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    body = "\n".join([begin, *lines, end])
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + body + tail
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


HEADER = """# Web benchmarks

Generated by `benchmarks/web_decision.py` (time to a decision in a real browser) and
`benchmarks/web_load.py` (frames per second the server processes under concurrent
sessions); each rewrites only its own section. Every session here is simulated.
"""


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]
