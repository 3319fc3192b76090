"""How one run is bounded: inference the main thread can stop, a deadline, signals.

onnxruntime holds the GIL-free C++ call for as long as a node runs, so a plain
``session.run`` ignores Ctrl-C until it returns (a model looping 10⁹ times: forever).
:func:`run_inference` therefore runs the call in a worker thread with a
``RunOptions`` it owns while the calling thread waits in short steps; a signal
(KeyboardInterrupt, :class:`Interrupted`) or an expired deadline arrives in the waiting
thread, which sets ``RunOptions.terminate`` so onnxruntime stops at its next node, and
re-raises. A :class:`Watchdog` thread enforces ``--timeout`` for the whole audit: at the
deadline it terminates the active runs and interrupts the main thread with SIGALRM.

``onnxruntime`` errors during a run become :class:`~audit_engine.errors.ModelRuntimeError`
(one sentence naming the node and the input shapes).
"""

from __future__ import annotations

import _thread
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as _FutureTimeout
from typing import Any

import numpy as np

from .errors import AuditTimeoutError, ModelRuntimeError

__all__ = ["Interrupted", "Deadline", "Watchdog", "run_inference", "install_signal_handlers", "signals_deferred",
           "deadline_passed", "runtime_error", "run_stoppable", "abandoned_work", "set_call_limit",
           "DEFAULT_CALL_SECONDS"]

_WAIT_STEP = 0.05
_active: set[Any] = set()
_active_lock = threading.Lock()
_expired = threading.Event()
_reported = threading.Event()  # the timeout was raised once; a late SIGALRM must not raise again
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_abandoned = threading.Event()  # a worker was left running (a session build stopped by a signal or --timeout)
_call_limit: float | None = None
DEFAULT_CALL_SECONDS = 900.0
"""Longest one onnxruntime call may run when the CLI has no --timeout: a model that never
returns (an unbounded Loop) cannot hang an audit; the evaluator's calls are chunked by
bytes, so a real call takes seconds."""


def set_call_limit(seconds: float | None) -> None:
    """Bound every single onnxruntime call to ``seconds`` (None: unbounded; the CLI sets it)."""
    global _call_limit
    _call_limit = seconds


def abandoned_work() -> bool:
    """True when a worker thread was left running in C++ code; the process should then exit
    with ``os._exit`` rather than unload onnxruntime under it."""
    return _abandoned.is_set()


def run_stoppable(work: Callable[[], Any]) -> Any:
    """Run ``work()`` (a long C++ call that releases the GIL and offers no way to stop it,
    such as building an onnxruntime session that constant-folds a large MatMul) in a daemon
    thread while the main thread waits in short steps, so that ``--timeout``, Ctrl-C and
    SIGTERM act during it. A stopped build is abandoned (see :func:`abandoned_work`); fd 2,
    which the build may have redirected to capture onnxruntime's log, is given back first.

    Raises what ``work`` raises, AuditTimeoutError at the deadline, or the signal's exception.
    """
    if threading.current_thread() is not threading.main_thread():
        return work()
    if _expired.is_set():
        raise _timed_out()
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    try:
        saved: int | None = os.dup(2)
    except OSError:
        saved = None
    thread = threading.Thread(target=target, name="audit-engine-session", daemon=True)
    thread.start()
    try:
        while not done.wait(_WAIT_STEP):
            if _expired.is_set():
                raise _timed_out()
    except BaseException:
        if not done.is_set():
            _abandoned.set()
            if saved is not None:
                os.dup2(saved, 2)  # the error line must reach the terminal, not onnxruntime's capture
        raise
    finally:
        if saved is not None:
            os.close(saved)
    if "error" in box:
        raise box["error"]
    return box["value"]


class Interrupted(BaseException):
    """SIGTERM (or another stop signal) arrived; ``exit_code`` is 128 + the signal number.

    A BaseException, like KeyboardInterrupt, so ``except Exception`` never swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class Deadline(BaseException):
    """The ``--timeout`` deadline passed while Python code ran (raised by SIGALRM)."""


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="audit-engine-inference")
        return _executor


def deadline_passed() -> bool:
    """True once the watchdog's deadline has passed (until the watchdog is stopped)."""
    return _expired.is_set()


def terminate_active() -> None:
    """Ask every onnxruntime run in flight to stop at its next node."""
    with _active_lock:
        for options in _active:
            options.terminate = True


def run_inference(call: Callable[[Any], Any], *, describe: Callable[[BaseException], str]) -> Any:
    """Run ``call(run_options)`` (a ``session.run``) so the calling thread can stop it.

    Parameters
    ----------
    call: the onnxruntime call, given a fresh ``onnxruntime.RunOptions`` to pass on.
    describe: turns an onnxruntime exception into the sentence of a ModelRuntimeError.

    Raises
    ------
    ModelRuntimeError: onnxruntime failed (a node could not run on these inputs).
    AuditTimeoutError: the ``--timeout`` deadline passed during the run.
    KeyboardInterrupt, Interrupted: a signal arrived; the run was terminated first.
    """
    import onnxruntime as ort

    if _expired.is_set():
        raise _timed_out()
    options = ort.RunOptions()
    options.log_severity_level = 4  # the failure becomes our one-line error; no runtime log line on stderr
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread receives signals; elsewhere waiting gains nothing.
        return _guarded(call, options, describe)
    with _active_lock:
        _active.add(options)
    future: Future[Any] = _pool().submit(_guarded, call, options, describe)
    started = time.monotonic()
    try:
        while True:
            try:
                return future.result(timeout=_WAIT_STEP)
            except _FutureTimeout:
                if _expired.is_set():
                    options.terminate = True
                    _settle(future)
                    raise _timed_out() from None
                if _call_limit is not None and time.monotonic() - started > _call_limit:
                    options.terminate = True
                    _settle(future)
                    raise ModelRuntimeError(
                        f"One model call ran for over {_call_limit:g} s and was stopped: the model may never return "
                        "(e.g. an unbounded Loop); pass --timeout SECONDS to allow longer audits."
                    ) from None
    except (AuditTimeoutError, ModelRuntimeError):
        raise
    except BaseException:
        options.terminate = True
        _settle(future, 0.2)  # a signal: the process is about to exit, answer within the second
        if _expired.is_set():
            raise _timed_out() from None
        raise
    finally:
        with _active_lock:
            _active.discard(options)


def _timed_out() -> AuditTimeoutError:
    _reported.set()
    return AuditTimeoutError(_timeout_message())


def _settle(future: Future[Any], seconds: float = 2.0) -> None:
    """Give a terminated run a moment to unwind, so the session is free again.

    onnxruntime checks ``terminate`` between nodes, so one long node (a large MatMul) runs
    to its end; a run still busy after ``seconds`` is left to finish alone and the process
    marked (:func:`abandoned_work`) so that the CLI exits without waiting for it.
    """
    try:
        future.exception(timeout=seconds)
    except BaseException:  # noqa: BLE001 - a second signal, or the wait ran out: stop waiting
        pass
    if not future.done():
        _abandoned.set()


def _guarded(call: Callable[[Any], Any], options: Any, describe: Callable[[BaseException], str]) -> Any:
    try:
        return call(options)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        if options.terminate:
            raise (_timed_out() if _expired.is_set() else RuntimeError("terminated")) from exc
        if type(exc).__module__.startswith("onnxruntime"):
            raise ModelRuntimeError(describe(exc)) from exc
        raise


_NODE = re.compile(r"running (\w+) node\.?\s*Name:\s*'([^']*)'")
_STATUS = re.compile(r"Status Message:\s*(.*)", re.S)


def runtime_error(exc: BaseException, feeds: Mapping[str, np.ndarray]) -> str:
    """One sentence for an onnxruntime failure: the node, its message, the input shapes."""
    text = str(exc)
    node = _NODE.search(text)
    status = _STATUS.search(text)
    detail = (status.group(1) if status else re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", text))
    detail = " ".join(detail.split())
    # drop onnxruntime's source location, C++ signature and internal assertion
    detail = re.sub(r"^\S+\.(?:cc|h|cpp|hpp):\d+\s+[\w:~<>]+\([^)]*\)\s*(?:const\s*)?", "", detail)
    detail = re.sub(r"^\S+\.(?:cc|h|cpp|hpp):\d+\s+", "", detail)
    detail = re.sub(r"^.{0,200}? was false\.\s*", "", detail)
    detail = re.sub(r"\.\s+", "; ", detail.strip())
    if len(detail) > 240:
        detail = detail[:237] + "..."
    where = f"node {node.group(2)!r} ({node.group(1)})" if node else "the model"
    shapes = ", ".join(f"{name} {list(np.shape(v))} {np.asarray(v).dtype}" for name, v in feeds.items())
    return (f"onnxruntime could not run {where} on inputs {shapes}: {detail.rstrip('.')}; "
            "the model fails on this input, so check the data's shape and values against what the model was exported for.")


def _timeout_message() -> str:
    seconds = Watchdog.current.seconds if Watchdog.current is not None else None
    limit = f"{seconds:g} s" if seconds is not None else "its time"
    return (f"The audit ran past --timeout ({limit}) and was stopped; raise --timeout, "
            "or lower the work (fewer rows, samples or bootstrap replicates).")


class Watchdog:
    """Enforce a deadline for a whole run: at ``seconds`` it stops inference and the main thread.

    Use as a context manager in the main thread; ``seconds=None`` does nothing.
    """

    current: Watchdog | None = None

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._timer: threading.Timer | None = None
        self._previous: Any = None

    def __enter__(self) -> Watchdog:
        _expired.clear()
        _reported.clear()
        if self.seconds is None:
            return self
        Watchdog.current = self
        self._previous = signal.signal(signal.SIGALRM, _on_alarm)
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _fire(self) -> None:
        _expired.set()
        with _active_lock:
            busy = bool(_active)
        terminate_active()
        if not busy:  # a waiting run_inference notices the deadline itself
            _thread.interrupt_main(signal.SIGALRM)

    def __exit__(self, *exc: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
        Watchdog.current = None
        _expired.clear()


def _on_alarm(signum: int, frame: Any) -> None:
    if Watchdog.current is None or _reported.is_set():
        return
    _reported.set()
    raise Deadline()


_deferred: list[int] = []
_deferring = threading.Event()


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


def _on_signal(signum: int, frame: Any) -> None:
    if _deferring.is_set():  # files are being moved into place: finish first, then stop
        _deferred.append(signum)
        return
    terminate_active()
    _raise_for(signum)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP while the block runs (e.g. moving outputs into place),
    then act on the first one that came, so a signal never leaves a half-moved folder."""
    _deferring.set()
    try:
        yield
    finally:
        _deferring.clear()
        if _deferred:
            signum = _deferred[0]
            _deferred.clear()
            _raise_for(signum)


def install_signal_handlers() -> Callable[[], None]:
    """SIGINT raises KeyboardInterrupt, SIGTERM (and SIGHUP) :class:`Interrupted`, in the main
    thread (both held inside :func:`signals_deferred`); returns an undo."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not the main thread / unsupported
            continue

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
