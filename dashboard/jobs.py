"""Background training jobs: started from a page, run in a thread, polled by the page.

Why a thread: training must not block the script run (Streamlit would freeze this session) nor other
sessions; torch releases the GIL in its kernels, so the server stays responsive. The thread never
touches st.*: it only updates its job's fields under a lock, and pages read snapshots. Cancelling sets
an event the engine polls through `should_stop`; a cancelled or failed run registers nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from engine.config import ConfigError, ModelConfig, TrainConfig
from engine.dataset import SequenceData
from engine.registry import ModelRecord
from engine.store import Store, StoreError

if TYPE_CHECKING:
    from engine.train import Progress

LOG = logging.getLogger(__name__)
MAX_STEP_POINTS = 4000  # loss points kept for the live curve (older ones are thinned)

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"


class JobRefused(Exception):
    """A job cannot start now (too many running, or this owner already has one); message for the user."""


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of one job, safe to read from any script run."""

    job_id: str
    owner: str
    dataset: str
    model_name: str
    status: str
    epochs: int
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    loss: float | None = None
    elapsed_s: float = 0.0
    steps: tuple[tuple[float, float], ...] = ()  # (epoch progress, running loss)
    validations: tuple[dict[str, float], ...] = ()  # per check: epoch, loss, valid metrics
    error: str | None = None
    record: ModelRecord | None = None
    started_at: float = field(default_factory=time.time)
    db_path: str = ""  # the store it trains on (workspace cleanup keeps that store while the job runs)

    @property
    def is_running(self) -> bool:
        return self.status == RUNNING

    @property
    def fraction(self) -> float:
        """Share of the planned steps done (early stopping may end the run sooner)."""
        if self.status == DONE:
            return 1.0
        if not self.steps_per_epoch:
            return 0.0
        done = (self.epoch - 1) * self.steps_per_epoch + self.step
        return min(done / (self.epochs * self.steps_per_epoch), 1.0)


class _Job:
    def __init__(self, view: JobView) -> None:
        self.view = view
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def on_progress(self, progress: Progress) -> None:
        with self.lock:
            view = self.view
            point = (progress.epoch - 1 + progress.step / max(progress.steps_per_epoch, 1), progress.loss)
            steps = view.steps + (point,)
            if len(steps) > MAX_STEP_POINTS:
                steps = steps[::2]
            validations = view.validations
            if progress.metrics is not None:
                validations += ({"epoch": float(progress.epoch), "loss": progress.loss, **progress.metrics},)
            self.view = replace(view, epoch=progress.epoch, step=progress.step, steps_per_epoch=progress.steps_per_epoch,
                                loss=progress.loss, elapsed_s=progress.elapsed_s, steps=steps, validations=validations)  # fmt: skip

    def finish(self, status: str, error: str | None = None, record: ModelRecord | None = None) -> None:
        with self.lock:
            self.view = replace(self.view, status=status, error=error, record=record)


class JobRegistry:
    """All training jobs of this server process; thread-safe. One instance per process (resources.py)."""

    def __init__(self, max_running: int = 2) -> None:
        self.max_running = max_running
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped whenever a job registers a model (a cache key for model lists)

    @property
    def generation(self) -> int:
        return self._generation

    def bump(self) -> None:
        """Tell model-list caches that the registry changed (also used after adopting a bundled model)."""
        with self._lock:
            self._generation += 1

    def start(
        self,
        owner: str,
        db_path: Path,
        dataset: str,
        model_config: ModelConfig,
        train_config: TrainConfig,
        model_name: str,
        data: SequenceData | None = None,
        train_fn: Callable[..., ModelRecord] | None = None,
    ) -> str:
        """Start training in a daemon thread and return the job id; JobRefused when it cannot start.

        train_fn defaults to engine.service.train_and_register (tests pass a scripted stand-in)."""
        with self._lock:
            running = [job.view for job in self._jobs.values() if job.view.is_running]
            if any(view.owner == owner for view in running):
                raise JobRefused("a training run of this session is still going; cancel it or wait for it to finish")
            if len(running) >= self.max_running:
                raise JobRefused(f"{len(running)} trainings are already running on this server; try again when one finishes")
            job = _Job(JobView(uuid.uuid4().hex[:12], owner, dataset, model_name, RUNNING, train_config.epochs, db_path=str(db_path)))
            self._jobs[job.view.job_id] = job
        args = (job, Path(db_path), dataset, model_config, train_config, model_name, data, train_fn)
        threading.Thread(target=self._run, args=args, name=f"train-{job.view.job_id}", daemon=True).start()
        return job.view.job_id

    def snapshot(self, job_id: str | None) -> JobView | None:
        job = self._jobs.get(job_id or "")
        if job is None:
            return None
        with job.lock:
            return job.view

    def latest(self, owner: str) -> JobView | None:
        """The most recently started job of `owner`, in any state."""
        views = [view for view in (self.snapshot(job_id) for job_id in list(self._jobs)) if view and view.owner == owner]
        return max(views, key=lambda view: view.started_at, default=None)

    def running(self) -> list[JobView]:
        return [view for view in (self.snapshot(job_id) for job_id in list(self._jobs)) if view and view.is_running]

    def cancel(self, job_id: str, owner: str) -> bool:
        """Ask the job to stop at its next step; only its owner may. True when the request was recorded."""
        job = self._jobs.get(job_id)
        if job is None or job.view.owner != owner or not job.view.is_running:
            return False
        job.stop.set()
        return True

    def _run(self, job: _Job, db_path: Path, dataset: str, model_config: ModelConfig, train_config: TrainConfig,
             model_name: str, data: SequenceData | None, train_fn: Callable[..., ModelRecord] | None) -> None:  # fmt: skip
        from engine.service import ServiceError, train_and_register  # torch: imported by the first training, not the first page
        from engine.train import TrainingCancelled

        try:
            record = (train_fn or train_and_register)(Store(db_path), dataset, model_config, train_config, model_name,
                              on_progress=job.on_progress, should_stop=job.stop.is_set, data=data)  # fmt: skip
        except TrainingCancelled:
            job.finish(CANCELLED, "training was cancelled; nothing was saved")
        except (ServiceError, StoreError, ConfigError, ValueError) as error:
            job.finish(FAILED, str(error))
        except Exception as error:  # noqa: BLE001 - a crashed run must end as a visible failure, never kill the server
            LOG.exception("training job %s crashed", job.view.job_id)
            job.finish(FAILED, f"training stopped with an unexpected error ({type(error).__name__}: {error})")
        else:
            self.bump()  # first: a page that sees DONE must also see the new generation, or it lists stale models
            job.finish(DONE, record=record)
