"""The cycle collector of a server process, tuned once it has started.

Python runs its young-generation collection every 700 container allocations, and every few of
those it walks older generations too. A server allocates dicts, rows and frames by the hundred
thousand per second, almost all freed by reference counting, so those runs mostly find nothing,
and the older ones walk every long-lived object of the process (modules, ORM mappers, schemas).
After startup, those are moved out of the collector's sight (`gc.freeze`), and the young
generation is collected every `gc_threshold` allocations: a dispatch pass took 10-15 % less
CPU (bench/README.md). Garbage in cycles is still collected, later and in larger runs: each run
pauses the event loop for as long as it takes to walk and free what accumulated (3-6 ms at the
default 10,000; 20-80 ms at 50,000, when SQLAlchemy's short-lived statement cycles fill it).
"""

from __future__ import annotations

import gc


def tune(threshold: int) -> None:
    """Apply once the process has started (`threshold` 0: leave Python's defaults)."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
