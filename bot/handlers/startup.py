"""A handler module's import with CPython's cyclic garbage collector paused.

Importing boto3, Powertools and slack_sdk leaves ~80,000 objects the collector tracks (the
notifier: 83,420 after its import; modules, classes, functions, dicts), and the collector
runs over them as they pile up: in a fresh process here, ~35 young and 3 middle-generation
collections during a handler's import, 16-20 ms of a ~220-290 ms cold start (``gc.callbacks``,
3 processes of each kind). Nearly nothing an import allocates is garbage: it lives as long as
the process.

So a handler module calls :func:`pause` before its imports and :func:`resume` when its set-up
is done. ``resume`` moves every object tracked so far to the permanent generation
(``gc.freeze()``, unless something is frozen already) and turns the collector back on: later
collections, the first event's included, traverse only what the events allocate. Without the
freeze, the first collection after the import would traverse the whole import at once.

What it costs: a reference cycle that became garbage before the freeze is never collected
(its memory stays until the process ends; on Lambda, the execution environment). Objects
freed by reference counting are freed as always. A process that imports handlers several
times (the tests, the sandbox) freezes once, at the first (``gc.get_freeze_count()``, so even
when a test drops this module and imports it again); later imports only pause and resume.

``pause`` does nothing if the collector is already off, and then ``resume`` leaves it off,
unless an earlier handler import paused it and failed before its ``resume``: the next handler
import's ``resume`` turns it back on.
"""

from __future__ import annotations

import gc

_state = {"paused": False}


def pause() -> None:
    """Turn the collector off, if it is on, until :func:`resume`."""
    if gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """Freeze what is tracked (if nothing in the process is frozen yet) and turn the collector
    back on, if :func:`pause` turned it off."""
    if not _state["paused"]:
        return
    if gc.get_freeze_count() == 0:
        gc.freeze()
    _state["paused"] = False
    gc.enable()
