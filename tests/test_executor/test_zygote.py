"""The step zygote of dask mode, alone: started with Popen, it forks children on request, reports
their exit codes, and ends with its owner. Runs in a daemon process, where multiprocessing
children are forbidden (the reason it exists)."""

import multiprocessing
import os
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue

import psutil

from orch_assets.executor.zygote import Zygote

ENTRY = f"{__name__}:shout"


def shout(fd: int) -> None:
    """A zygote entry: answer the text it is sent in upper case, then exit with its length."""
    conn = Connection(fd)
    text = conn.recv_bytes()
    conn.send_bytes(text.upper() + f" from {os.getppid()}".encode())
    if text == b"fail":
        raise RuntimeError("asked to fail")
    os._exit(len(text))


def _use_zygote_in_a_daemon(results: Queue) -> None:
    zygote = Zygote([psutil.__name__], ENTRY)
    children = [zygote.fork() for _ in range(3)]
    for child, text in zip(children, [b"a", b"bb", b"fail"], strict=True):
        child.conn.send_bytes(text)
    answers = [child.conn.recv_bytes().decode() for child in children]
    codes = [child.exit_code(timeout=30) for child in children]
    exited = [child.exited() for child in children]
    for child in children:
        child.close()
    pid = zygote.pid
    zygote.close()
    results.put((multiprocessing.current_process().daemon, pid, answers, codes, exited))


def test_a_zygote_in_a_daemon_process_forks_children_reports_their_exit_and_ends_with_it() -> None:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    daemon = context.Process(target=_use_zygote_in_a_daemon, args=(results,), daemon=True)
    daemon.start()
    is_daemon, zygote_pid, answers, codes, exited = results.get(timeout=120)
    daemon.join(timeout=30)

    assert is_daemon
    assert answers == [f"{t} from {zygote_pid}" for t in ("A", "BB", "FAIL")], "forked by it"
    assert codes == [1, 2, 1]
    assert exited == [True, True, True]
    assert not psutil.pid_exists(zygote_pid), "closing the zygote ended it"
