"""QUEUED mode in the sandbox's CodePipeline: a stage holds one execution at a time, executions waiting for a stage
enter it in the order they started, and a later execution can run an earlier stage while the earlier execution is
further on (pipelining).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from sandbox.pipeline.model import Queue

TIMEOUT = 5.0  # a bound for a thread that should get somewhere; the tests take milliseconds


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Execution:
    """One execution's thread: it enters its stages in turn and stays in each until let go."""

    def __init__(self, queue: Queue, sequence: int, stages: int, entered: list[tuple[int, int]]) -> None:
        self.queue, self.sequence, self.entered = queue, sequence, entered
        self.inside = [threading.Event() for _ in range(stages)]
        self.leave = [threading.Event() for _ in range(stages)]
        self.fail_in: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"execution-{sequence}")

    def _run(self) -> None:
        try:
            for index, leave in enumerate(self.leave):
                with self.queue.stage(index, self.sequence):
                    self.entered.append((self.sequence, index))
                    self.inside[index].set()
                    leave.wait(TIMEOUT)
                    if index == self.fail_in:
                        raise RuntimeError("the action failed")
        except RuntimeError:
            pass

    def start(self) -> Execution:
        self.thread.start()
        return self

    def waits_for(self, index: int) -> bool:
        with self.queue.changed:
            return self.sequence in self.queue.waiting.get(index, [])

    def finish(self) -> None:
        for leave in self.leave:
            leave.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()


@pytest.fixture
def entered() -> list[tuple[int, int]]:
    """(sequence, stage index), in the order executions entered stages."""
    return []


def test_executions_waiting_for_a_stage_enter_it_in_start_order_even_if_the_later_asked_first(
        entered: list[tuple[int, int]]) -> None:
    queue = Queue()
    first = Execution(queue, 1, 1, entered).start()
    assert first.inside[0].wait(TIMEOUT)
    third = Execution(queue, 3, 1, entered).start()
    eventually(lambda: third.waits_for(0))
    second = Execution(queue, 2, 1, entered).start()
    eventually(lambda: second.waits_for(0))

    first.leave[0].set()
    assert second.inside[0].wait(TIMEOUT)
    assert not third.inside[0].is_set()  # the stage is second's until it leaves
    second.finish()
    third.finish()
    first.finish()
    assert entered == [(1, 0), (2, 0), (3, 0)]


def test_a_stage_holds_one_execution_while_the_next_stage_holds_another(entered: list[tuple[int, int]]) -> None:
    queue = Queue()
    first = Execution(queue, 1, 2, entered).start()
    assert first.inside[0].wait(TIMEOUT)
    first.leave[0].set()
    assert first.inside[1].wait(TIMEOUT)  # first is in stage 1, and stays

    second = Execution(queue, 2, 2, entered).start()
    assert second.inside[0].wait(TIMEOUT)  # stage 0 is free: second runs it while first runs stage 1
    third = Execution(queue, 3, 2, entered).start()
    eventually(lambda: third.waits_for(0))
    assert not third.inside[0].is_set()  # stage 0 holds second only

    for execution in (first, second, third):
        execution.finish()
    assert entered.index((2, 0)) < entered.index((2, 1))
    assert entered.index((1, 1)) < entered.index((2, 1)) < entered.index((3, 1))


def test_a_later_execution_waits_at_a_stages_entrance_until_the_earlier_leaves(
        entered: list[tuple[int, int]]) -> None:
    queue = Queue()
    first = Execution(queue, 1, 2, entered).start()
    assert first.inside[0].wait(TIMEOUT)
    second = Execution(queue, 2, 2, entered).start()
    eventually(lambda: second.waits_for(0))
    assert not second.inside[0].is_set()

    first.leave[0].set()  # first moves on to stage 1: stage 0 is second's
    assert second.inside[0].wait(TIMEOUT)
    second.leave[0].set()
    eventually(lambda: second.waits_for(1))  # and second waits again, behind first, at stage 1
    assert not second.inside[1].is_set()

    first.finish()
    assert second.inside[1].wait(TIMEOUT)
    second.finish()
    assert entered[0] == (1, 0) and entered[-1] == (2, 1)  # (1, 1) and (2, 0) ran side by side


def test_an_execution_that_fails_in_a_stage_lets_the_next_one_in(entered: list[tuple[int, int]]) -> None:
    queue = Queue()
    first = Execution(queue, 1, 2, entered)
    first.fail_in = 0
    first.start()
    assert first.inside[0].wait(TIMEOUT)
    second = Execution(queue, 2, 2, entered).start()
    eventually(lambda: second.waits_for(0))

    first.leave[0].set()
    assert second.inside[0].wait(TIMEOUT)
    second.finish()
    first.finish()
    assert entered == [(1, 0), (2, 0), (2, 1)]


def test_an_execution_that_ended_before_its_first_stage_holds_nobody_up() -> None:
    queue = Queue()
    queue.enqueue(1)
    queue.enqueue(2)
    queue.abandon(1)  # it crashed before its thread reached the first stage
    entered = threading.Event()

    def second() -> None:
        with queue.stage(0, 2):
            entered.set()

    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    assert entered.wait(5), "the second execution waited for one that had ended"


def test_an_execution_leaving_a_stage_is_in_line_for_the_next_before_anyone_else() -> None:
    queue = Queue()
    for sequence in (1, 2):
        queue.enqueue(sequence)
    with queue.stage(0, 1, then=1):
        pass
    with queue.stage(0, 2, then=1):
        pass
    assert queue.waiting[1] == [1, 2]  # the first is ahead at the next stage although its thread has not asked
