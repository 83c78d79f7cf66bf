"""benchmarks.mutants: a mutant of a guarded condition is killed, and a stale mutation is an
error, never a pass. (The full run is ``python -m benchmarks.mutants``; see its docstring.)"""

from __future__ import annotations

import pytest

from benchmarks import mutants
from benchmarks.mutants import Mutation, StaleMutation


def test_two_mutants_are_killed_by_their_tests_and_the_working_tree_is_untouched(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ("incomplete-memberships", "reject-majority")
    files = {m.file: (mutants.ROOT / m.file).read_text() for m in mutants.select(None, False)}
    status = mutants.main(["--only", ",".join(names), "--jobs", "1", "--no-soak"])
    out = capsys.readouterr().out
    assert "killed 2/2" in out
    assert status == 0
    for name in names:
        (line,) = [row for row in out.splitlines() if row.startswith(name)]
        assert "killed" in line
        assert "tests/unit/test_guard_" in line  # killed by the guard test written for it
    assert {f: (mutants.ROOT / f).read_text() for f in files} == files


def stale(original: str, file: str = "bot/store.py") -> Mutation:
    return Mutation("stale", file, original, "", "nothing", ("tests/unit/test_guard_decisions.py",))


@pytest.mark.parametrize(
    ("mutation", "why"),
    [
        (stale("this snippet is in no file"), "occurs 0 times"),
        (stale("_s(Status.PENDING)"), "times in bot/store.py"),  # ambiguous: many times
        (stale("x", file="bot/gone.py"), "does not exist"),
    ],
    ids=["snippet gone", "snippet ambiguous", "file gone"],
)
def test_a_stale_mutation_is_an_error_not_a_pass(mutation: Mutation, why: str) -> None:
    with pytest.raises(StaleMutation):
        mutants.check(mutation)
    outcome = mutants.try_mutation(mutation)
    assert outcome.verdict == "error"
    assert why in outcome.by
    text, status = mutants.summary([outcome])
    assert "killed 0/1" in text
    assert "errors: stale" in text
    assert status == 1


def test_stale_tests_are_an_error() -> None:
    mutation = Mutation(
        "no-tests",
        "bot/ports.py",
        "return False if self.complete else None",
        "",
        "x",
        ("tests/unit/test_no_such_file.py",),
    )
    with pytest.raises(StaleMutation, match="tests do not exist"):
        mutants.check(mutation)


def test_every_curated_mutation_applies_exactly_once() -> None:
    chosen = mutants.select(None, False)
    assert len(chosen) >= 15
    assert len({m.name for m in chosen}) == len(chosen)
    for mutation in chosen:
        mutated = mutants.check(mutation)
        assert mutated != (mutants.ROOT / mutation.file).read_text()
    fast = mutants.select(None, True)
    assert 0 < len(fast) < len(chosen)
