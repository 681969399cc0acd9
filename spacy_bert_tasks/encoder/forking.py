"""Make `nlp.pipe(texts, n_process=N)` work after the encoder has run in the parent process.

Why it hung. spaCy's `n_process` forks worker processes. torch's Linux wheels run intra-op
parallelism on GNU OpenMP (libgomp), which is not fork-safe: once the parent has run a parallel
region (any encoder pass with more than one torch thread), its pool of OpenMP threads is
recorded in the process's memory, but a fork copies only the forking thread. The child's first
parallel region (here a LayerNorm in the encoder) wakes pool threads that do not exist and waits
for them forever at the team barrier (`gomp_team_barrier_wait_end`): workers at 0% CPU, the
parent waiting in `Language._multiprocessing_pipe`. Hugging Face's fast tokenizers are not the
cause: they notice the fork themselves, turn their own parallelism off in the child and say so
("The current process just got forked...").

The fix, in a forked child only. When the first encoder is created, `register_fork_handler`
registers (once per process, with `os.register_at_fork`) a handler that runs in the child of
every Python-level fork (multiprocessing's "fork" start method, `os.fork`; not `subprocess`,
which execs): if torch used more than one thread in the parent, it sets torch's intra-op threads
to 1 in the child, which never wakes the copied pool. The parent's setting is untouched. As in
torch's own DataLoader workers (which do the same), each worker then uses one thread, which is
also what `n_process` wants: N workers with N threads each would oversubscribe the cores. A
child that wants more threads must be started with "spawn" or "forkserver" (a fresh interpreter
with a fresh pool).

Orphans. spaCy's workers wait for texts on a queue whose write end they inherited, so when the
parent is killed (SIGKILL, SIGTERM) they would wait forever. `watch_parent` (called by the
encoder when it first runs in a multiprocessing child) starts a daemon thread that ends the
worker when its parent is gone. Only multiprocessing children get it: a process that forks to
daemonize keeps its child alive.
"""

import multiprocessing
import os
import threading
from typing import Optional

# Seconds between two looks at the parent in a worker: how long an orphan can outlive it.
PARENT_POLL_SECONDS = 1.0
_handler_registered = False
_watched_pid: Optional[int] = None


def register_fork_handler() -> None:
    """Register, once per process, the handler that keeps forked children off the OpenMP pool."""
    global _handler_registered
    if _handler_registered or not hasattr(os, "register_at_fork"):  # Windows has no fork
        return
    os.register_at_fork(after_in_child=_single_thread_torch)
    _handler_registered = True


def _single_thread_torch() -> None:
    import torch  # already imported: the encoder that registered this handler uses it

    if torch.get_num_threads() > 1:
        torch.set_num_threads(1)


def watch_parent() -> None:
    """In a multiprocessing child (an `n_process` worker), exit when the parent process dies.

    Cheap after the first call in a process; does nothing in a process not started by
    multiprocessing.
    """
    global _watched_pid
    pid = os.getpid()
    if _watched_pid == pid:
        return
    _watched_pid = pid
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    thread = threading.Thread(
        target=_exit_when_parent_dies,
        args=(parent.pid,),
        name="spacy_bert_tasks-watch-parent",
        daemon=True,
    )
    thread.start()


def _exit_when_parent_dies(parent_pid: int) -> None:
    # getppid() changes (to 1 or a subreaper) when the parent dies; polling it needs no fd
    # that a sibling forked later could hold open (multiprocessing's parent sentinel can be).
    stopped = threading.Event()
    while os.getppid() == parent_pid:
        stopped.wait(PARENT_POLL_SECONDS)
    # os._exit, not sys.exit: the main thread is blocked in a queue read and would never see
    # an exception raised here; there is nothing left to flush for a parent that is gone.
    os._exit(1)
