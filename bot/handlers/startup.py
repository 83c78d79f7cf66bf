"""A handler module's import with CPython's cyclic garbage collector paused.

Importing boto3, Powertools and slack_sdk allocates a few hundred thousand objects (modules,
classes, functions, dicts), and the collector runs over them as they pile up: in a fresh
process here, ~35 young and 3 middle-generation collections during a handler's import, 16-20 ms
of a ~220-290 ms cold start (``gc.callbacks``, 9 processes). Nearly nothing an import allocates
is garbage: it lives as long as the process.

So a handler module calls :func:`pause` before its imports and :func:`resume` when its set-up
is done. ``resume`` moves every object tracked so far to the permanent generation
(``gc.freeze()``, once per process) and turns the collector back on: later collections, the
first event's included, traverse only what the events allocate. Without the freeze, the first
collection after the import would traverse the whole import at once.

What it costs: a reference cycle that became garbage before the freeze is never collected
(its memory stays until the process ends; on Lambda, the execution environment). Objects
freed by reference counting are freed as always. A process that imports handlers several
times (the tests) freezes once, at the first; later imports only pause and resume.

``pause`` does nothing if the collector is already off (someone else turned it off), and then
``resume`` leaves it off.
"""

from __future__ import annotations

import gc

_state = {"paused": False, "frozen": False}


def pause() -> None:
    """Turn the collector off, if it is on, until :func:`resume`."""
    if gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """Freeze what is tracked (first time in the process only) and turn the collector back on,
    if :func:`pause` turned it off."""
    if not _state["paused"]:
        return
    if not _state["frozen"]:
        gc.freeze()
        _state["frozen"] = True
    _state["paused"] = False
    gc.enable()
