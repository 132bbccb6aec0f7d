"""The progress line of ``fit(verbose=1)``.

On a terminal one line per epoch is rewritten in place ("\\r") while the epoch
runs, then completed with the epoch's logs. Elsewhere (a file, a pipe, a
captured stream), or with ``verbose=2``, only the completed lines are written,
so logs stay readable.

    Epoch  3/10  412/938  loss 0.3124  ETA 5s  48,211 samples/s
    Epoch  3/10 - 4.2s - loss: 0.3124 - accuracy: 0.9123 - val_loss: 0.2871 - lr: 1.0000e-03
"""
import math
import sys
import time

# Looked up at each call, so tests can drive time.
_clock = time.perf_counter

# Rewriting a terminal line costs far more than a batch of a small network:
# at most one rewrite per interval.
_MIN_INTERVAL_S = 0.1


def _format_number(value):
    """Four decimals, or scientific notation for magnitudes up to 1e-3 (learning
    rates, small losses), which four decimals would hide (Keras's rule)."""
    value = float(value)
    if value == 0 or abs(value) > 1e-3 or not math.isfinite(value):
        return f"{value:.4f}"
    return f"{value:.4e}"


def _format_duration(seconds):
    """12s, 3:05, 1:02:03."""
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    if minutes:
        return f"{minutes}:{secs:02d}"
    return f"{secs}s"


def format_logs(logs):
    """ "loss: 0.3124 - accuracy: 0.9123" """
    return " - ".join(f"{name}: {_format_number(value)}" for name, value in logs.items())


def _is_live(stream):
    """Whether "\\r" rewrites a line on this stream."""
    if hasattr(stream, "isatty") and stream.isatty():
        return True
    # Jupyter's stdout is no TTY, but its output cell honours "\r".
    return stream is sys.stdout and "ipykernel" in sys.modules


class ProgressLine:
    """Progress of ``epochs`` epochs of ``total_batches`` batches each, written
    to `stream` (default: sys.stdout at construction).

    Per epoch: ``start_epoch(epoch)`` (epoch counted from 0), then
    ``update(batches_done, loss, samples_per_s)`` as often as convenient (it
    writes at most every 0.1 s, and only on a terminal), then
    ``end_epoch(logs, seconds)``. live: whether to rewrite a line in place
    (None: where the stream shows it).
    """

    def __init__(self, total_batches, epochs, stream=None, live=None):
        self.total_batches = total_batches
        self.epochs = epochs
        self.stream = sys.stdout if stream is None else stream
        self.live = _is_live(self.stream) if live is None else live
        self._epoch = 0
        self._started = self._last_write = _clock()
        self._width = 0  # length of the line now on screen, to blank its leftovers

    def start_epoch(self, epoch):
        self._epoch = epoch
        self._started = self._last_write = _clock()

    def update(self, batches_done, loss, samples_per_s):
        if not self.live:
            return
        now = _clock()
        if now - self._last_write < _MIN_INTERVAL_S:
            return
        self._last_write = now
        total = self.total_batches
        if batches_done > 0:
            eta = _format_duration((now - self._started) / batches_done * (total - batches_done))
        else:
            eta = "?"
        self._write_live(f"{self._epoch_label()}  {batches_done:>{len(str(total))}}/{total}"
                         f"  loss {_format_number(loss)}  ETA {eta}"
                         f"  {samples_per_s:,.0f} samples/s")

    def end_epoch(self, logs, seconds):
        """Writes the epoch's line: its duration and every value of `logs`."""
        duration = f"{seconds:.1f}s" if seconds < 60 else _format_duration(seconds)
        line = " - ".join([self._epoch_label(), duration] + ([format_logs(logs)] if logs else []))
        self.stream.write(("\r" if self.live else "") + line.ljust(self._width) + "\n")
        self.stream.flush()
        self._width = 0

    def clear(self):
        """Blank a live line not yet completed."""
        self._leave("\r" + " " * self._width + "\r")

    def close(self):
        """End a live line not yet completed (an interrupted epoch's) where it stands."""
        self._leave("\n")

    def _leave(self, text):
        if self._width:
            self.stream.write(text)
            self.stream.flush()
            self._width = 0

    def _epoch_label(self):
        return f"Epoch {self._epoch + 1:>{len(str(self.epochs))}}/{self.epochs}"

    def _write_live(self, line):
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)
