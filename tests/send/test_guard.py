"""The send guard: nothing goes without a confirmation, and a session has a cap."""

from __future__ import annotations

import threading

from console.send.guard import DEFAULT_SEND_LIMIT, SendGuard, process_guard


def test_unconfirmed_is_refused_and_not_counted() -> None:
    guard = SendGuard()
    reason = guard.admit(confirmed=False)
    assert reason is not None
    assert "--yes" in reason
    assert guard.used == 0
    assert guard.remaining == DEFAULT_SEND_LIMIT


def test_cap_counts_every_admitted_send() -> None:
    guard = SendGuard(limit=3)
    assert [guard.admit(confirmed=True) for _ in range(3)] == [None, None, None]
    assert guard.remaining == 0
    reason = guard.admit(confirmed=True)
    assert reason is not None
    assert "cap of 3" in reason
    assert guard.used == 3


def test_too_many_recipients_is_refused_and_not_counted() -> None:
    guard = SendGuard(max_recipients=2)
    reason = guard.admit(confirmed=True, recipients=3)
    assert reason is not None
    assert "at most 2" in reason
    assert guard.used == 0
    assert guard.admit(confirmed=True, recipients=2) is None


def test_cap_holds_across_threads() -> None:
    guard = SendGuard(limit=5)
    admitted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            ok = guard.admit(confirmed=True) is None
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 5
    assert guard.used == 5


def test_process_guard_is_shared() -> None:
    assert process_guard() is process_guard()
    assert process_guard().limit == DEFAULT_SEND_LIMIT
