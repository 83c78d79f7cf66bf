"""The handlers import with the cyclic GC paused, then freeze what they set up
(bot.handlers.startup)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks.common import ROOT, base_env

# Counts the collections that run while the handler module imports, in a fresh interpreter.
CHILD = """\
import gc, json, sys
runs = []
gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
__import__(sys.argv[1])
print(json.dumps({
    "collections": len(runs), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()
}))
"""


@pytest.mark.parametrize("module", ["bot.handlers.notifier", "bot.handlers.interactions"])
def test_handler_import_runs_no_collection_and_leaves_the_gc_on(module: str) -> None:
    env = {**os.environ, **base_env("http://127.0.0.1:9")}
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", CHILD, module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # ~35 young and 3 older ones without the pause; at most one before it takes effect (the
    # interpreter's own start-up may leave the young generation near its threshold)
    assert report["collections"] <= 1
    assert report["enabled"] is True
    assert report["frozen"] > 10_000  # the import's objects are in the permanent generation


@pytest.fixture
def gc_state() -> object:
    """Restore the collector and the module's state after a test that drives them."""
    import gc

    from bot.handlers import startup

    enabled, state = gc.isenabled(), dict(startup._state)
    yield startup
    startup._state.update(state)
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_pause_then_resume_turns_the_collector_back_on(
    gc_state: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from bot.handlers import startup

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))  # not this test process
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 0)
    gc.enable()
    startup._state.update(paused=False)
    startup.pause()
    assert not gc.isenabled()
    startup.resume()
    assert gc.isenabled()
    assert frozen == [True]


def test_resume_freezes_only_when_nothing_is_frozen_yet(
    gc_state: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from bot.handlers import startup

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 1)
    gc.enable()
    startup._state.update(paused=False)
    startup.pause()
    startup.resume()
    assert gc.isenabled()
    assert frozen == []


def test_resume_leaves_a_collector_someone_else_turned_off(gc_state: object) -> None:
    import gc

    from bot.handlers import startup

    gc.disable()
    startup._state.update(paused=False)
    startup.pause()
    startup.resume()
    assert not gc.isenabled()
