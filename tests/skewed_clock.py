"""``common.commands.train`` with one process's clock running an hour ahead after a few readings.

    accelerate launch ... -m tests.skewed_clock --skew-rank 1 --skew-after 8 -- <train flags>

For the distributed test of ``--max-train-minutes``: the process of rank ``--skew-rank``
sees its time budget spent a few batches into training, the others never do. Every
process must still stop at the same batch (a process that stops alone leaves the others
waiting in the next gradient all-reduce).
"""

from __future__ import annotations

import argparse
import os
import time as _time

from common.training import trainer


class SkewedClock:
    """Stands in for the ``time`` module inside the trainer: ``time()`` jumps by ``seconds`` after ``after`` calls."""

    def __init__(self, after: int, seconds: float = 3600.0) -> None:
        self.after, self.seconds, self.calls = after, seconds, 0

    def time(self) -> float:
        self.calls += 1
        return _time.time() + (self.seconds if self.calls > self.after else 0.0)

    def __getattr__(self, name):
        return getattr(_time, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skew-rank", type=int, default=1)
    parser.add_argument("--skew-after", type=int, default=8)
    args, rest = parser.parse_known_args()
    if rest and rest[0] == "--":
        rest = rest[1:]
    if int(os.environ.get("RANK", "0")) == args.skew_rank:
        trainer.time = SkewedClock(args.skew_after)
    from common.commands import train
    train.main(rest)


if __name__ == "__main__":
    main()
