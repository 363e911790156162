"""Run a producer one step ahead in a thread, so reading overlaps parsing."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Run a producer one step ahead in a thread, so reading overlaps parsing.

    Decompression, file reads and polars' CSV framing release the GIL, so
    on two cores the next batch is framed while this one is parsed.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put(("item", item))
            slots.put(("end", None))
        except BaseException as exc:  # re-raised in the consumer
            slots.put(("error", exc))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.05)
