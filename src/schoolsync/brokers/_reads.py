"""Reading a fetch's independent collections at once, on a bounded number of threads sharing
the broker's pooled client (and its rate limit), all or nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

__all__ = ["Read", "read_all"]

#: One collection's read: given the fetch's cancel event, it reads page after page and stops
#: (returns) before its next request once the event is set.
Read = Callable[[threading.Event], None]


def read_all(reads: Sequence[Read], *, workers: int) -> None:
    """Run *reads* on at most *workers* threads (one after another when *workers* is 1).

    The first read to fail sets the cancel event: the others stop before their next request
    (a request already sent ends or times out first), and once every read has stopped the
    first failure is raised, so the fetch ends with that one typed error and nothing of the
    partial result is used. An interrupt while waiting cancels the reads the same way.
    """
    cancel = threading.Event()
    if workers <= 1 or len(reads) <= 1:
        for read in reads:
            read(cancel)
        return
    failure: BaseException | None = None
    with ThreadPoolExecutor(
        max_workers=min(workers, len(reads)), thread_name_prefix="schoolsync-broker-read"
    ) as pool:
        futures = [pool.submit(read, cancel) for read in reads]
        try:
            for future in as_completed(futures):
                error = future.exception()
                if error is not None and failure is None:
                    failure = error
                    cancel.set()
        except BaseException:
            cancel.set()
            raise
    if failure is not None:
        raise failure
