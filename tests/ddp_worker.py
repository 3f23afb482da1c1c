"""``dsta.train`` as one torchrun process, for ``tests/test_distributed.py``.

``python -m torch.distributed.run --nproc_per_node 2 -m tests.ddp_worker TRAIN_ARGS...``

Two test hooks, from the environment: ``DSTA_TEST_KILL_AT_EPOCH=E`` stops every process at the start of epoch E (an
interrupted run, as a killed job leaves it), and ``DSTA_TEST_WRITES=PATH``: every process records each file it opens
for writing, creates, renames or removes under ``DSTA_TEST_WATCH`` (Python's audit events, so nothing in the code
under test is changed), and leaves the list in ``PATH.RANK.json`` when it exits.
"""

from __future__ import annotations

import atexit
import json
import os
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
WRITE_EVENTS = (
    "os.rename",
    "os.replace",
    "os.remove",
    "os.unlink",
    "os.mkdir",
    "os.rmdir",
    "shutil.rmtree",
    "shutil.copyfile",
    "os.symlink",
    "os.link",
    "os.truncate",
)


def record_writes(watch: str, report: str) -> None:
    writes: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE_FLAGS)
            if writing and str(path).startswith(watch):
                writes.append(f"open {path}")
        elif event in WRITE_EVENTS and any(str(a).startswith(watch) for a in args[:2]):
            writes.append(f"{event} {args[0]} {args[1] if len(args) > 1 else ''}")

    def dump() -> None:
        with open(report, "w") as f:  # outside the watched tree
            json.dump(writes, f)

    atexit.register(dump)
    sys.addaudithook(hook)


def main() -> None:
    rank = int(os.environ["RANK"])
    if os.environ.get("DSTA_TEST_WRITES"):
        record_writes(os.environ["DSTA_TEST_WATCH"], f"{os.environ['DSTA_TEST_WRITES']}.{rank}.json")
    from dsta import train

    kill_at = os.environ.get("DSTA_TEST_KILL_AT_EPOCH")
    if kill_at is not None:
        real = train.train_one_epoch

        def killed(model, objective, loader, optimizer, scaler, device, epoch, *args, **kwargs):
            if epoch == int(kill_at):
                raise SystemExit(f"rank {rank}: killed at the start of epoch {epoch}")
            return real(model, objective, loader, optimizer, scaler, device, epoch, *args, **kwargs)

        train.train_one_epoch = killed
    train.main(sys.argv[1:])


if __name__ == "__main__":
    main()
