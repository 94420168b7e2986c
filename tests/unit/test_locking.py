from __future__ import annotations

import pytest

from release.exceptions import ReleaseInProgress
from release.locking import acquire

ME, OTHER = "arn:aws:states:us-east-1:1:execution:m:me", "arn:aws:states:us-east-1:1:execution:m:other"


class Store:
    def __init__(self, holder: str | None = None, take_over_wins: bool = True) -> None:
        self.holder = holder
        self.take_over_wins = take_over_wins
        self.calls: list[tuple[str, str, str]] = []

    def put_if_free(self, key: str, execution: str, now: int) -> str | None:
        if self.holder is None:
            self.holder = execution
            return None
        return self.holder

    def take_over(self, key: str, dead: str, execution: str, now: int) -> bool:
        self.calls.append(("take_over", dead, execution))
        if self.take_over_wins and self.holder == dead:
            self.holder = execution
            return True
        return False


class Workflow:
    def __init__(self, status: str) -> None:
        self.status = status

    def execution_status(self, arn: str) -> str:
        return self.status


def test_a_free_lock_is_taken() -> None:
    assert acquire(Store(), Workflow("RUNNING"), "lb", ME, 0).holder == ME  # type: ignore[arg-type]


def test_a_retried_attempt_finds_its_own_lock() -> None:
    assert acquire(Store(ME), Workflow("RUNNING"), "lb", ME, 0).took_over_from is None  # type: ignore[arg-type]


def test_a_running_holder_refuses_the_release_naming_it() -> None:
    with pytest.raises(ReleaseInProgress, match="Release other is running"):
        acquire(Store(OTHER), Workflow("RUNNING"), "lb", ME, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT", "GONE"])
def test_a_holder_that_no_longer_runs_is_taken_over(status: str) -> None:
    store = Store(OTHER)
    lock = acquire(store, Workflow(status), "lb", ME, 0)  # type: ignore[arg-type]
    assert lock.took_over_from == OTHER and store.holder == ME


def test_two_takeovers_of_the_same_dead_holder_cannot_both_win() -> None:
    with pytest.raises(ReleaseInProgress, match="took the lock"):
        acquire(Store(OTHER, take_over_wins=False), Workflow("FAILED"), "lb", ME, 0)  # type: ignore[arg-type]
