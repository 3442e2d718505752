"""The one thread in this process that runs llama.cpp: the chat model and every embedder compute on it.

llama.cpp's CPU backend uses OpenMP, and OpenMP keeps a team of worker threads for each thread that computes.
Two teams on a 2-core machine (say, the embedder on the main thread and the chat model on its own) make libgomp
see more threads than cores and cut its spin-waits short, and every token then waits on a sleeping worker:
measured here, the listener decoded 80 tokens/s alone and 43 tokens/s once another thread had embedded. One
computing thread means one team, whoever asks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from companion.logs import get_logger

log = get_logger("compute")

THREAD_NAME = "companion-llama"


@dataclass
class _Call:
    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # raised again in the caller's thread
            self.error = exc
        finally:
            self.done.set()


class ComputeThread:
    """A FIFO of jobs run one at a time on one daemon thread, started on first use."""

    def __init__(self, name: str = THREAD_NAME) -> None:
        self._name = name
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def on_this_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, fn: Callable[[], Any], timeout: float | None = None) -> Any:
        """fn() on the compute thread, after the jobs queued before it; its result or its exception here.

        Called from the compute thread itself, fn runs at once (a job may use an embedder)."""
        if self.on_this_thread():
            return fn()
        call = _Call(fn)
        self.submit(call)
        if not call.done.wait(timeout):
            raise TimeoutError(f"the {self._name} thread did not answer within {timeout} s")
        if call.error is not None:
            raise call.error
        return call.result

    def submit(self, job: Callable[[], None]) -> None:
        """Queue job (it reports its own results and errors, e.g. a generation streaming into its queue)."""
        self._ensure_started()
        self._jobs.put(job)

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException as exc:  # a job's own failure never stops the thread the others need
                log.warning("a compute job failed: %s", type(exc).__name__)


_shared: ComputeThread | None = None
_shared_lock = threading.Lock()


def compute_thread() -> ComputeThread:
    """The process's one llama.cpp thread."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ComputeThread()
        return _shared
