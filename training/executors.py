"""Executors: where the runs of a grid are computed. The caller (the driver) alone writes results.

An executor takes a pure function `fn(shared, job) -> result`, the `shared` inputs every run reads, and the jobs,
and yields one `Outcome` per job as it finishes (in finishing order, which need not be submission order):

- `local`: today's in-process loop, in job order; an exception ends the grid, as it always did.
- `ray`: each job a Ray task with its own CPU count and torch thread count, on this machine or on a cluster
  (`address`). `shared` is put into the object store once, so each node fetches it once rather than once per
  task. A task that raises or whose worker dies (killed, out of memory, node lost) is retried `retries` times by
  Ray and then comes back as an Outcome with `error`: the grid goes on, and the caller records it as failed.

Ray is an optional extra (`pip install "mujo-edge[cluster]"`), imported only inside the ray executor.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from mujo_edge.errors import ConfigError

log = logging.getLogger(__name__)

S = TypeVar("S")
J = TypeVar("J")
R = TypeVar("R")

INSTALL_HINT = 'pip install "mujo-edge[cluster]"'
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Outcome(Generic[J, R]):
    """A finished job: `result`, or `error` (one line naming the exception) when it failed for good."""

    job: J
    result: R | None = None
    error: str | None = None


class Executor(Protocol):
    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J]) -> Iterator[Outcome[J, R]]: ...


def _set_threads(threads: int) -> None:
    import torch

    if threads and threads != torch.get_num_threads():  # resetting it stalls torch for a while
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class LocalExecutor:
    """Every job in this process, one after the other. `threads` > 0 sets torch's thread count first."""

    threads: int = 0

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J]) -> Iterator[Outcome[J, R]]:
        if self.threads:
            _set_threads(self.threads)
        for job in jobs:
            yield Outcome(job, fn(shared, job))


def _run_task(fn: Callable[[Any, Any], Any], shared: Any, job: Any, threads: int) -> Any:
    """The body of every Ray task (module level, so workers import it by name rather than unpickle code)."""
    _set_threads(threads)
    return fn(shared, job)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_line(exc: BaseException) -> str:
    """One line for a failed row: the exception's type and the last line of its text (for a task error, the
    worker's own exception, e.g. "ModuleNotFoundError: No module named 'mujo_edge'")."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    text = last if last.split(":")[0].endswith(("Error", "Exception")) else f"{type(exc).__name__}: {last}"
    return text[:500]


def _check_reachable(address: str, timeout_s: float) -> None:
    """A bounded check that `address` (host:port of a Ray head's GCS) answers, because ray.init waits forever
    for an address that does not. A port that accepts TCP must also complete a gRPC handshake."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"expected HOST:PORT of the Ray head (e.g. 10.0.0.1:6379), got {address!r}", field="--address"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ConfigError(f"no Ray head answers at {address} ({e})", field="--address") from None
    try:
        import grpc  # a dependency of ray
    except ImportError:
        return
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise ConfigError(
            f"{address} accepts connections but is not a Ray head (no gRPC answer in {timeout_s:.0f} s)",
            field="--address",
        ) from None
    finally:
        channel.close()


def _init_bounded(ray: Any, address: str | None, timeout_s: float) -> None:
    """ray.init, given up after `timeout_s`: joining a cluster from a machine that is not one of its nodes (or a
    head that advertises an address this machine cannot reach) makes ray.init wait forever, so it runs in a
    daemon thread that is abandoned on timeout."""
    failure: list[BaseException] = []

    def join() -> None:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    if address is None:
        # starting Ray here: in this thread, because the processes it starts die with the thread that started
        # them (Linux's parent-death signal is per thread); nothing remote to wait for
        join()
        if failure:
            raise ConfigError(f"could not start Ray here: {error_line(failure[0])}", field="--executor") from failure[0]
        return

    thread = threading.Thread(target=join, name="ray-init", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise ConfigError(
            f"could not join the Ray cluster at {address or 'this machine'} within {timeout_s:.0f} s: run this "
            f"command on a node of that cluster (`ray start --address {address or 'HEAD:6379'}` there first)",
            field="--address",
        )
    if failure:
        raise ConfigError(f"ray.init failed: {error_line(failure[0])}", field="--address") from failure[0]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"the ray executor needs Ray: {INSTALL_HINT}", field="--executor") from None
    return ray


@dataclass(frozen=True)
class RayExecutor:
    """Jobs as Ray tasks. `address` None starts a Ray instance on this machine for the grid's duration;
    "auto" or HOST:PORT joins a running cluster (`ray start --head` / `ray start --address`). Each task asks for
    `cpus_per_run` CPUs and runs torch with `threads_per_run` threads (0: one per CPU asked for)."""

    address: str | None = None
    cpus_per_run: float = 1.0
    threads_per_run: int = 0
    retries: int = 1
    connect_timeout_s: float = 20.0
    join_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.cpus_per_run <= 0:
            raise ConfigError(f"must be > 0, got {self.cpus_per_run}", field="--cpus-per-run")
        if self.threads_per_run < 0 or self.retries < 0:
            raise ConfigError("threads and retries must be >= 0", field="--threads-per-run")

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J]) -> Iterator[Outcome[J, R]]:
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            if self.address not in (None, "auto"):
                _check_reachable(str(self.address), self.connect_timeout_s)
            _init_bounded(ray, self.address, self.join_timeout_s)
        pending: dict[Any, J] = {}
        try:
            log.info("ray cluster: %s", ray.cluster_resources())
            threads = self.threads_per_run or max(1, int(self.cpus_per_run))
            task = ray.remote(num_cpus=self.cpus_per_run, max_retries=self.retries, retry_exceptions=True)(_run_task)
            shared_ref = ray.put(shared)  # once: every task on a node reads the node's copy
            pending = {task.remote(fn, shared_ref, job, threads): job for job in jobs}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        yield Outcome(job, ray.get(ref))
                    except ray.exceptions.RayError as e:  # raised twice, worker or node died, out of memory
                        log.warning("%s failed: %s", job, error_line(e))
                        yield Outcome(job, error=error_line(e))
        finally:
            for ref in pending:  # the driver stopped early (an error, Ctrl-C): nothing left running for it
                try:
                    ray.cancel(ref, force=True)
                except Exception as e:  # already finished or its node is gone: nothing to cancel
                    log.debug("cancel %s: %s", pending[ref], e)
            if started:
                ray.shutdown()


def make_executor(
    name: str, *, address: str | None = None, cpus_per_run: float = 1.0, threads: int = 0
) -> LocalExecutor | RayExecutor:
    """The executor `name` (EXECUTORS); ray's settings are refused for `local`, so none is silently ignored."""
    if name == "local":
        if address is not None:
            raise ConfigError("--address needs --executor ray", field="--address")
        return LocalExecutor(threads=threads)
    if name == "ray":
        import_ray()  # say how to install it before any data is prepared
        return RayExecutor(address=address, cpus_per_run=cpus_per_run, threads_per_run=threads)
    raise ConfigError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})", field="--executor")
