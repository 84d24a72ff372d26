"""Two transactions forced to interleave (PostgreSQL, real threads and connections): the
first stops right after a hook, the second runs until it has finished (no common lock: the
race) or is seen waiting for a lock in ``pg_stat_activity`` (the fix), then the first goes on.
No wall-clock assert: the waits only bound a broken run."""
import threading

from django.db import connection, connections

BOUND = 60  # seconds: only a broken run waits this long


def waiting_for_a_lock(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


def race(monkeypatch, first, hook: tuple, second):
    """Run ``first`` in one thread, stopped right after its first call of ``hook`` (module,
    attribute), and ``second`` in another meanwhile; return (what first returned, what second
    returned)."""
    module, name = hook
    reached, go_on = threading.Event(), threading.Event()
    original = getattr(module, name)

    def hooked(*args, **kwargs):
        out = original(*args, **kwargs)
        if threading.current_thread().name == "first" and not reached.is_set():
            reached.set()
            assert go_on.wait(BOUND)
        return out

    monkeypatch.setattr(module, name, hooked)
    results, errors, second_pid = {}, [], {}

    def run(label, work):
        try:
            if label == "second":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    second_pid["pid"] = cursor.fetchone()[0]
            results[label] = work()
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)
            reached.set()
        finally:
            connection.close()

    a = threading.Thread(target=run, args=("first", first), name="first")
    a.start()
    assert reached.wait(BOUND)
    b = threading.Thread(target=run, args=("second", second), name="second")
    b.start()
    for _ in range(BOUND * 20):  # until the second is done or blocked on the first's lock
        b.join(0.05)
        if not b.is_alive() or ("pid" in second_pid and waiting_for_a_lock(second_pid["pid"])):
            break
    go_on.set()
    a.join(BOUND)
    b.join(BOUND)
    assert not a.is_alive() and not b.is_alive()
    if errors:
        raise errors[0]
    return results["first"], results["second"]
