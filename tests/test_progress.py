"""fastmlp._progress.ProgressLine on a plain stream (only the end-of-epoch lines)
and on a fake terminal (the line rewritten with "\\r", at most every 0.1 s),
with the clock driven by the test."""
import io
import sys

import pytest

from fastmlp import _progress
from fastmlp._progress import ProgressLine

LOGS = {"loss": 0.31244, "accuracy": 0.9123, "val_loss": 0.28711, "val_accuracy": 0.92,
        "lr": 1e-3}
END_LINE = ("Epoch  3/10 - 4.2s - loss: 0.3124 - accuracy: 0.9123 - val_loss: 0.2871"
            " - val_accuracy: 0.9200 - lr: 1.0000e-03")


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """Stands in for time.perf_counter; the test moves it on."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(_progress, "_clock", clock)
    return clock


def run_epoch(progress, clock, epoch, seconds_per_batch=0.0625):
    progress.start_epoch(epoch)
    for done in range(1, progress.total_batches + 1):
        clock.now += seconds_per_batch
        progress.update(done, loss=1.0 / done, samples_per_s=12345.6)
    progress.end_epoch(LOGS, seconds=4.2)


def test_plain_stream_gets_only_the_end_of_epoch_lines(clock):
    stream = io.StringIO()
    progress = ProgressLine(total_batches=40, epochs=10, stream=stream)
    assert not progress.live
    run_epoch(progress, clock, 2)
    run_epoch(progress, clock, 3)
    assert stream.getvalue() == END_LINE + "\n" + END_LINE.replace(" 3/10", " 4/10") + "\n"


def test_terminal_line_is_rewritten_in_place(clock):
    stream = FakeTTY()
    progress = ProgressLine(total_batches=40, epochs=10, stream=stream)
    assert progress.live
    run_epoch(progress, clock, 2)
    output = stream.getvalue()
    assert output.endswith("\n") and output.count("\n") == 1
    updates = output[:-1].split("\r")[1:]  # each write starts with "\r"
    *live, end = updates
    assert end.rstrip() == END_LINE
    # 40 batches of 1/16 s (exact in binary), a write at most every 0.1 s:
    # every other batch.
    assert len(live) == 20
    assert live[0] == "Epoch  3/10   2/40  loss 0.5000  ETA 2s  12,346 samples/s"
    assert live[-1].startswith("Epoch  3/10  40/40  loss 0.0250  ETA 0s  ")


def test_terminal_writes_are_throttled(clock):
    stream = FakeTTY()
    progress = ProgressLine(total_batches=1000, epochs=1, stream=stream)
    progress.start_epoch(0)
    for done in range(1, 1001):
        clock.now += 0.001  # a fast epoch: 1 s in all
        progress.update(done, 0.5, 1e6)
    assert 9 <= stream.getvalue().count("\r") <= 10


def test_a_shorter_line_blanks_the_longer_one_before_it(clock):
    stream = FakeTTY()
    progress = ProgressLine(total_batches=10, epochs=1, stream=stream)
    progress.start_epoch(0)
    clock.now += 1.0
    progress.update(1, 123.456, 99999999.0)
    long_line = stream.getvalue()
    clock.now += 1.0
    progress.update(2, 0.5, 1.0)
    short_write = stream.getvalue()[len(long_line):]
    assert len(short_write) == len(long_line)
    assert short_write.startswith("\rEpoch 1/1   2/10  loss 0.5000") and short_write.endswith(" ")


def test_eta(clock):
    stream = FakeTTY()
    progress = ProgressLine(total_batches=1000, epochs=1, stream=stream)
    progress.start_epoch(0)
    clock.now += 50.0
    progress.update(250, 0.5, 100.0)  # 250 batches in 50 s: 150 s to go
    assert "ETA 2:30" in stream.getvalue()
    clock.now += 1.0
    progress.update(0, 0.5, 100.0)
    assert "ETA ?" in stream.getvalue()


def test_terminal_end_line_without_updates(clock):
    stream = FakeTTY()
    progress = ProgressLine(total_batches=5, epochs=2, stream=stream)
    progress.start_epoch(0)
    progress.update(1, 0.5, 10.0)  # too soon after the start: not written
    progress.end_epoch({"loss": 0.5}, seconds=0.01)
    assert stream.getvalue() == "\rEpoch 1/2 - 0.0s - loss: 0.5000\n"


@pytest.mark.parametrize("seconds, text", [(0.04, "0.0s"), (59.94, "59.9s"), (75, "1:15"),
                                           (3725, "1:02:05")])
def test_epoch_duration(seconds, text):
    stream = io.StringIO()
    progress = ProgressLine(total_batches=1, epochs=1, stream=stream)
    progress.start_epoch(0)
    progress.end_epoch({}, seconds)
    assert stream.getvalue() == f"Epoch 1/1 - {text}\n"


@pytest.mark.parametrize("value, text", [
    (0.5, "0.5000"), (12345.678, "12345.6780"), (0.0, "0.0000"), (1e-3, "1.0000e-03"),
    (3e-5, "3.0000e-05"), (-0.25, "-0.2500"), (float("nan"), "nan"), (float("inf"), "inf")])
def test_number_format(value, text):
    assert _progress._format_number(value) == text


def test_default_stream_is_stdout(capsys):
    progress = ProgressLine(total_batches=3, epochs=1)
    assert progress.stream is sys.stdout
    progress.start_epoch(0)
    progress.end_epoch({"loss": 1.0}, 0.5)
    assert capsys.readouterr().out == "Epoch 1/1 - 0.5s - loss: 1.0000\n"
