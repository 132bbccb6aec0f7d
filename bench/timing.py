"""Timing helpers shared by the bench scripts that time one library alone."""
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
