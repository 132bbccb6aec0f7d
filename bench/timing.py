"""Timing helpers shared by the bench scripts: per-call timing, and a probe
of the CPU time other processes take meanwhile (on a shared machine, the
first suspect when a ratio moves)."""
import os
import statistics
import time


def per_call(fn, min_time=0.02):
    """Seconds per call, timing enough back-to-back calls to last min_time
    (after one untimed call)."""
    fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls
        calls *= 2


def median_times(calls, rounds):
    """{label: median seconds per call} for [(label, call)], timed in turn,
    round after round."""
    times = {label: [] for label, _ in calls}
    for _ in range(rounds):
        for label, call in calls:
            times[label].append(per_call(call))
    return {label: statistics.median(t) for label, t in times.items()}


def foreign_cpu():
    """A probe of the CPU time other processes use: call it before and after
    some work, and the second call gives their share of all cores meanwhile
    (None without /proc/stat)."""
    def now():
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
        own = sum(os.times()[:2]) * os.sysconf("SC_CLK_TCK")
        return time.perf_counter(), sum(ticks) - ticks[3] - ticks[4] - own
    try:
        t0, busy0 = now()
    except (OSError, ValueError):
        return lambda: None

    def share():
        t1, busy1 = now()
        cores = os.cpu_count() * os.sysconf("SC_CLK_TCK") * (t1 - t0)
        return max(0.0, (busy1 - busy0) / cores)
    return share


def percent(share):
    """A foreign_cpu() share for a table: "12%", or "?" where unknown."""
    return "?" if share is None else f"{100 * share:.0f}%"
