"""The kernel core driven from Python: coroutines, timers, and jobs crossing threads."""

import threading
import time

import ambience_kernel as k


def test_sleepers_complete_in_deadline_order():
    # each sleeper takes its deadline from now when it first runs, one after another: gaps of 50 ms
    # so that a preempted test (a loaded machine) does not reorder them
    order = k.run_sleepers([150_000, 50_000, 100_000, 0])
    assert order == [3, 1, 2, 0]


def test_frames_are_released_after_tasks_finish():
    before = k.frame_stats()
    assert k.run_chains(tasks=100, depth=10) == 100 * 11
    after = k.frame_stats()
    assert after["live_frames"] == before["live_frames"]
    assert after["allocations"] >= before["allocations"] + 100 * 11
    assert after["failures"] == before["failures"]


def test_thread_blocks_until_other_thread_completes_job():
    job = k.Job()
    result = []
    waiter = threading.Thread(target=lambda: result.append(job.wait()))
    waiter.start()
    time.sleep(0.05)
    assert not job.done() and not result
    job.complete(42)
    waiter.join(timeout=5)
    assert result == [42]


def test_loop_sleeps_while_waiting_for_a_python_thread():
    job = k.Job()
    sleeps_before = k.idle_sleeps()

    def complete_later():
        threading.Thread(target=lambda: (time.sleep(0.1), job.complete(7))).start()

    start = time.monotonic()
    assert k.loop_waits_for_python(job, complete_later) == 7
    elapsed = time.monotonic() - start
    assert elapsed >= 0.09
    # ~100 ms of waiting must be a few futex sleeps, not a busy loop.
    assert 1 <= k.idle_sleeps() - sleeps_before < 50
