"""One piece of long work at a time, off the event loop: a second request while one runs is refused at once
(429, naming what runs), so the page never waits in an invisible queue; the running job's progress is public,
and it stops with a clear error past the request-time limit or when its page goes away."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread

from seqgen.serve.limits import RequestError

T = TypeVar("T")


class Cancelled(Exception):
    """The page that asked for a job went away; nobody sees this."""


@dataclass
class Job:
    """The job running now: what it is, its steps done (of `total` at most, when known) and its deadline."""

    name: str
    limit_s: float
    total: int | None = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    def step(self) -> None:
        """Count one step (a generated token); stop the work past the time limit or once cancelled."""
        self.done += 1
        if self.cancelled:
            raise Cancelled
        if time.monotonic() - self.started > self.limit_s:
            raise RequestError(f"stopped after {self.limit_s:g} s, the time limit of one request: ask for fewer "
                               "or shorter samples", 422)

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "done": self.done, "total": self.total,
                "seconds": round(time.monotonic() - self.started, 1)}


class Worker:
    """Runs one job at a time in a worker thread; claiming it while a job runs is a 429."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.job: Job | None = None

    def claim(self, name: str, total: int | None = None) -> Job:
        """Start a job (called on the event loop, so two claims never race); a 429 while one runs."""
        if self.job is not None:
            s = self.job.status()
            raise RequestError(f"busy: {s['name']} is running (for {s['seconds']:g} s); try again when it ends", 429)
        self.job = Job(name, self.limit_s, total)
        return self.job

    def release(self, job: Job) -> None:
        if self.job is job:
            self.job = None

    async def run(self, name: str, work: Callable[[Job], T], total: int | None = None) -> T:
        """Claim, run `work(job)` in a thread, release; the job stays claimed until its thread ends, even when the
        request is dropped (the thread cannot be interrupted from outside)."""
        job = self.claim(name, total)
        try:
            return await anyio.to_thread.run_sync(lambda: work(job))
        finally:
            self.release(job)

    def status(self) -> dict[str, Any] | None:
        return self.job.status() if self.job is not None else None
