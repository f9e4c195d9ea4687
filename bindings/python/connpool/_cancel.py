"""Statements that a Python-level interruption cancels on the server (issue 14).

A blocking ``connpool_lease_exec`` cannot be interrupted: Python runs signal handlers (and so
raises KeyboardInterrupt) only once the C call returns, and an asyncio task cancelled while its
statement runs in a thread leaves the statement running. Both leave the connection busy, so the
next caller of a small pool waits for a statement nobody wants any more.

Here statements are sent (``connpool_lease_send``), waited for on the connection's socket from
Python, and collected (``connpool_lease_collect``):

* :func:`lease_exec` has ``connpool_lease_exec``'s signature. Outside the main thread it is that
  call (the fast path: signals are handled by the main thread only). In the main thread it
  waits with ``poll`` in short slices, so a KeyboardInterrupt (or any exception a signal handler
  raises) arrives at once; then the statement is cancelled on the server and drained before the
  exception goes on.
* :func:`lease_exec_async` is its asyncio form: it waits with ``loop.add_reader``, and a
  cancellation (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``) does the same
  cancel and drain before the CancelledError goes on.

Cancel and drain: ``connpool_lease_cancel`` (bounded by the pool's cancel_timeout), then the
statement's outcome (normally SQLSTATE 57014) is read and dropped, for at most
:data:`DRAIN_SECONDS`. A statement still pending after that is left pending: releasing the lease
then closes that connection instead of reusing it (the header's connpool_lease_release), so a
connection is never handed to anyone with a statement in flight.
"""

from __future__ import annotations

import asyncio
import ctypes
import select
import threading
import time

from . import _ffi

_lib = _ffi.lib
_fast = _ffi.fast
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p
_c_int32 = ctypes.c_int32

_lease_exec = _lib.connpool_lease_exec  # GIL released: blocks until the server answers
_send = _fast.connpool_lease_send  # the next three never block: GIL kept
_socket = _fast.connpool_lease_socket
_collect = _fast.connpool_lease_collect
_cancel = _lib.connpool_lease_cancel  # a network exchange: GIL released
_result_free = _fast.connpool_result_free

_IN_PROGRESS = _ffi.ERR_IN_PROGRESS
_WAIT_WRITE = 2  # CONNPOOL_WAIT_WRITE

#: How long the outcome of a cancelled statement is waited for before the connection is given
#: up (closed on release): the server normally answers a cancel within milliseconds, and this
#: is how late past its cancellation a caller can be over a stalled network.
DRAIN_SECONDS = 0.3

#: The longest single wait in the main thread: a signal delivered to another thread (the OS may
#: pick any thread that does not block it, e.g. one of the pool's) is seen by the next slice.
_SLICE_MS = 50

_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
_get_ident = threading.get_ident
_MAIN_THREAD = threading.main_thread().ident


def lease_exec(out, lease: int, sql: bytes, n: int, params, err) -> int:
    """``connpool_lease_exec`` (same arguments, ``out``/``err`` by reference); interruptible in
    the main thread, where an interruption cancels the statement on the server first."""
    if _get_ident() != _MAIN_THREAD:
        return _lease_exec(out, lease, sql, n, params, err)
    status = _send(lease, sql, n, params, err)
    if status:
        return status
    try:
        return _wait_and_collect(out, lease, err, None)
    except BaseException:
        # The exception may land just after the outcome was collected: drop that result (the
        # caller sees only the exception), and there is nothing left to cancel.
        _drop(out._obj)
        cancel_and_drain(lease)
        raise


# connpool_lease_socket's out-parameters for the main thread's path (only that thread uses
# them: two fewer allocations per statement).
_MAIN_FD = _c_int32()
_MAIN_EVENTS = _c_int32()
_MAIN_OUT = (_byref(_MAIN_FD), _byref(_MAIN_EVENTS))


def _wait_fd(lease: int):
    """(fd, poll mask) the pending statement waits for; mask 0 when none is pending."""
    if _get_ident() == _MAIN_THREAD:
        fd, events = _MAIN_FD, _MAIN_EVENTS
        _socket(_MAIN_OUT[0], _MAIN_OUT[1], lease, None)
    else:
        fd = _c_int32()
        events = _c_int32()
        _socket(_byref(fd), _byref(events), lease, None)
    if not events.value:
        return fd.value, 0
    return fd.value, _POLLIN | (_POLLOUT if events.value & _WAIT_WRITE else 0)


def _wait_and_collect(out, lease: int, err, deadline) -> int:
    """Polls the socket in slices and collects until the outcome is complete; IN_PROGRESS if
    ``deadline`` (monotonic seconds) passes first."""
    while True:
        fd, mask = _wait_fd(lease)
        if fd >= 0 and mask:
            slice_ms = _SLICE_MS
            if deadline is not None:
                slice_ms = max(0, min(slice_ms, int((deadline - time.monotonic()) * 1000) + 1))
            poller = select.poll()
            poller.register(fd, mask)
            poller.poll(slice_ms)
        status = _collect(out, lease, err)
        if status != _IN_PROGRESS:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return status


def _drop(out) -> None:
    if out.value:
        _result_free(out.value)
        out.value = None


def cancel_and_drain(lease: int) -> bool:
    """Cancels the pending statement on the server and reads its outcome (dropped). True when
    the connection is idle again; False when the statement is still pending (release closes the
    connection)."""
    if not _wait_fd(lease)[1]:
        return True  # it ended before the interruption: nothing to cancel
    _cancel(lease, None)
    out = _c_void_p()
    status = _wait_and_collect(_byref(out), lease, None, time.monotonic() + DRAIN_SECONDS)
    _drop(out)
    return status != _IN_PROGRESS


# ---- asyncio -------------------------------------------------------------------------------------
async def lease_exec_async(out, lease: int, sql: bytes, n: int, params, err) -> int:
    """``connpool_lease_exec`` for a coroutine, on the running loop (no thread). Cancelling the
    awaiting task cancels the statement on the server and drains it before CancelledError goes
    on, so the connection is free (or, if the server did not answer, closed on release) by the
    time ``asyncio.wait_for``/``asyncio.timeout`` raise."""
    status = _send(lease, sql, n, params, err)
    if status:
        return status
    try:
        return await _collect_async(out, lease, err, None)
    except asyncio.CancelledError:
        await _cancel_and_drain_async(lease)
        raise


async def _collect_async(out, lease: int, err, deadline) -> int:
    loop = asyncio.get_running_loop()
    while True:
        fd, mask = _wait_fd(lease)
        if fd >= 0 and mask:
            await _ready(loop, fd, mask, deadline)
        status = _collect(out, lease, err)
        if status != _IN_PROGRESS:
            return status
        if deadline is not None and loop.time() >= deadline:
            return status


async def _ready(loop, fd: int, mask: int, deadline) -> None:
    """Until ``fd`` is ready for ``mask`` (or ``deadline``, loop time, passes)."""
    fut = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, wake)
    if mask & _POLLOUT:
        loop.add_writer(fd, wake)
    timer = None if deadline is None else loop.call_at(deadline, wake)
    try:
        await fut
    finally:
        loop.remove_reader(fd)
        if mask & _POLLOUT:
            loop.remove_writer(fd)
        if timer is not None:
            timer.cancel()


async def _cancel_and_drain_async(lease: int) -> bool:
    """As :func:`cancel_and_drain`, without blocking the loop: the cancel request (a network
    exchange) runs in the loop's default executor while the outcome is awaited, both within
    :data:`DRAIN_SECONDS` of the cancellation, so a stalled network delays the caller by no more
    than that. A cancel request still in flight then is remembered (:func:`cancel_in_flight`):
    the lease's release waits for it off the loop. Another cancellation meanwhile (or a loop that
    can no longer run the cancel, e.g. its executor shut down) stops the cleanup; the statement
    is then left pending (release closes the connection). Never raises: the caller re-raises its
    CancelledError."""
    if not _wait_fd(lease)[1]:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    try:
        request = loop.run_in_executor(None, _cancel, lease, None)
    except Exception:
        return False
    try:
        out = _c_void_p()
        status = await _collect_async(_byref(out), lease, None, deadline)
        _drop(out)
        if not request.done():
            # The server ended the statement, so it took the request: its exchange ends in
            # moments (waiting here keeps the release below from being deferred).
            await asyncio.wait({request}, timeout=max(0.0, deadline - loop.time()))
        return status != _IN_PROGRESS
    except (asyncio.CancelledError, Exception):
        return False
    finally:
        if not request.done():
            _cancels_in_flight[lease] = request
            request.add_done_callback(lambda _f, lease=lease: _cancels_in_flight.pop(lease, None))


#: Cancel requests still in flight after their statement was given up, by lease.
_cancels_in_flight: dict = {}


def cancel_in_flight(lease: int):
    """The asyncio future of a cancel request still running for ``lease``, or None."""
    request = _cancels_in_flight.get(lease)
    return request if request is not None and not request.done() else None
