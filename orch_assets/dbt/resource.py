"""``GatedDbtCliResource``: dagster-dbt's ``DbtCliResource`` with execution classes and the live
cap applied to the models inside each dbt command.

What differs from ``DbtCliResource``, and why: the dbt subprocess is ``orch-dbt``
(:mod:`orch_assets.dbt.gated_main`), which runs the same dbt command with dbt's thread pool
behind the class gate; dbt's output, exit code and artifacts are unchanged, so dagster-dbt reads
them as usual. In a step (``context`` given), the commands run in one dbt worker process that
stays alive for the step (:mod:`orch_assets.dbt.worker`): dbt is imported and the project parsed
once, not once per command; ``orch-dbt`` only relays. Before a command starts, the resource
writes the gate's settings into its target directory; while it runs, a thread of the step writes
each change of the live cap there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
from dagster_dbt.compat import DBT_PYTHON_VERSION
from pydantic import Field, PrivateAttr, field_validator

from orch_assets.dbt.classes import DEFAULT_EXECUTION_CLASS, check_execution_class
from orch_assets.dbt.gated_main import GATE_FILE, write_cap
from orch_assets.dbt.invocation import GatedDbtCliInvocation, follow_cap, warm_up_timeline
from orch_assets.dbt.limits import build_limits, under_adaptive_executor
from orch_assets.dbt.run_slots import run_slots_dir
from orch_assets.dbt.runner import DbtWorker
from orch_assets.executor import live_cap
from orch_assets.executor.capacity import CapPolicy, CapState, ProcessTreeProbe, decide_cap
from orch_assets.executor.container import ContainerProbe, host_cpu_count
from orch_assets.executor.ownership import at_step_end

if TYPE_CHECKING:
    from packaging.version import Version

Context = dg.OpExecutionContext | dg.AssetExecutionContext


def _gated_dbt_executable() -> str:
    """``orch-dbt`` beside this Python (a virtualenv's ``bin``), else from PATH."""
    beside = Path(sys.executable).with_name("orch-dbt")
    return str(beside) if beside.exists() else "orch-dbt"


GATED_DBT_EXECUTABLE = _gated_dbt_executable()


class _WorkingDirectory:
    """dagster-dbt's ``cli()`` changes the process's working directory to the project while it
    starts the command (``pushd``, not thread-safe): two steps of one run starting commands at
    once in threads interleave the changes and would leave the run process in a project
    directory. The directory before the first of overlapping starts is restored when the last
    one ends (a lock around ``cli()`` would serialise the seconds of dbt adapter set-up)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved = ""

    @contextmanager
    def kept(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._saved = os.getcwd()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and os.getcwd() != self._saved:
                    os.chdir(self._saved)


_WORKING_DIRECTORY = _WorkingDirectory()


class _LazyAdapter:
    """dagster-dbt builds a dbt adapter in the step for every command (it loads the profile and
    the project: 1.5-3.5 s of the step's CPU per command here), though only the invocation's
    ``fetch_row_counts()`` and ``fetch_column_metadata()`` use it. This one is built on first use;
    ``isinstance`` and attribute access see the real adapter."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._adapter: Any = None
        self._lock = threading.Lock()

    def _real(self) -> Any:
        with self._lock:
            if self._adapter is None:
                self._adapter = self._build()
        return self._adapter

    # dagster-dbt checks isinstance(adapter, DuckDBAdapter) before fetching row counts.
    @property
    def __class__(self) -> type:  # pyright: ignore[reportIncompatibleMethodOverride]
        return type(self._real())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


class GatedDbtCliResource(DbtCliResource):
    """A ``DbtCliResource`` whose dbt commands run each model under its execution class and the
    live cap: at most ``class_limits[c]`` models of class ``c`` at once, at most the cap in all.

    Under the adaptive executor the run's executor config (``class_limits``) and its live cap
    govern; under any other executor this resource's ``class_limits``, ``max_concurrent`` and
    ``memory_pause_percent`` do. ``cli(...)`` returns a :class:`GatedDbtCliInvocation`, a
    ``DbtCliInvocation`` whose ``stream()`` yields dagster-dbt's events with per-model timing
    metadata and the build's timeline on the last one.

    Examples:
        .. code-block:: python

            import dagster as dg
            from dagster_dbt import DbtProject, dbt_assets
            from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource
            from orch_assets.executor import adaptive_executor

            project = DbtProject(project_dir="path/to/project")

            @dbt_assets(manifest=project.manifest_path,
                        dagster_dbt_translator=ExecutionClassTranslator())
            def my_models(context: dg.AssetExecutionContext, dbt: GatedDbtCliResource):
                yield from dbt.cli(["build"], context=context).stream()

            defs = dg.Definitions(
                assets=[my_models],
                resources={"dbt": GatedDbtCliResource(project_dir=project)},
                executor=adaptive_executor,
            )
    """

    class_limits: dict[str, int | None] | None = Field(
        default=None,
        description="Under a non-adaptive executor: the most models of each execution class "
        "at once (null: up to the cap); defaults sequential 1, conditional 2, parallel_safe "
        "null. Under the adaptive executor its own class_limits apply.",
    )
    default_execution_class: str = Field(
        default=DEFAULT_EXECUTION_CLASS,
        description="The class of a model that declares none (meta.execution_class or a tag).",
    )
    max_concurrent: int | None = Field(
        default=None,
        description="Under a non-adaptive executor: the most dbt nodes at once (null: dbt "
        "--threads). Under the adaptive executor its live cap applies.",
    )
    memory_pause_percent: float | None = Field(
        default=None,
        description="Under a non-adaptive executor: at this system memory used %, no new node "
        "starts beside a running one until usage is 10 points lower (null: off).",
    )
    record_history: bool = Field(
        default=True,
        description="Record each command's node times in the runtime history and tag the run "
        "with its dbt threads (orch/dbt_threads).",
    )
    gate: bool = Field(
        default=True,
        description="false: no class limits and no live cap, plain dbt --threads (for "
        "comparisons); the commands still run in the step's worker.",
    )
    keep_worker: bool = Field(
        default=True,
        description="Run a step's dbt commands in one dbt process that stays alive for the step "
        "(dbt imported and the project parsed once); false: one process per command.",
    )
    reparse_on_vars: bool = Field(
        default=True,
        description="With keep_worker: parse again when a command's --vars differ from the "
        "parse's. Set false when no config depends on a var (vars used in SQL only): the step's "
        "commands then share one parse.",
    )
    worker_cwd: str | None = Field(
        default=None,
        description="The dbt process's working directory (relative paths in profiles.yml, e.g. "
        "a DuckDB file, resolve against it); null: the project directory, as dagster-dbt.",
    )
    _workers: dict[str, DbtWorker] = PrivateAttr(default_factory=dict)
    _workers_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(
        self,
        project_dir: str | Path | DbtProject,
        dbt_executable: str | Path = GATED_DBT_EXECUTABLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(project_dir=project_dir, dbt_executable=dbt_executable, **kwargs)

    @cached_property
    def _cli_version(self) -> Version:
        """dagster-dbt asks ``<dbt_executable> --version`` in a subprocess (seconds: it imports
        dbt); ``orch-dbt`` beside this Python runs this environment's dbt Core, whose version
        dagster-dbt has already read."""
        ours = (
            self.dbt_executable == GATED_DBT_EXECUTABLE and Path(self.dbt_executable).is_absolute()
        )
        if ours and DBT_PYTHON_VERSION is not None:
            return DBT_PYTHON_VERSION
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        project_dir = str(self.project_dir)

        build_now = super()._initialize_dbt_core_adapter

        def build() -> Any:
            with _WORKING_DIRECTORY.kept():
                os.chdir(project_dir)
                return build_now(args)

        return _LazyAdapter(build)

    @field_validator("default_execution_class")
    @classmethod
    def _known_class(cls, value: str) -> str:
        return check_execution_class(value, "GatedDbtCliResource.default_execution_class")

    def gate_settings(self, context: Context | None) -> dict[str, Any]:
        """What the gated dbt process needs at start (written to its target directory)."""
        run_id = context.run.run_id if context is not None else None
        run_config = context.run.run_config if context is not None else None
        limits, source = build_limits(run_id, run_config, self.class_limits)
        cap = live_cap(run_id) if under_adaptive_executor(run_id) else self.max_concurrent
        if not self.gate:
            limits, source, cap, run_id = dict.fromkeys(limits), "gate: false", None, None
        return {
            "class_limits": limits,
            "cap": cap,
            "default_execution_class": self.default_execution_class,
            "source": source,
            # The limits hold across every gated dbt command of the run (run_slots.py).
            "run_slots": str(run_slots_dir(run_id)) if run_id is not None else None,
        }

    def worker(self, context: Context) -> DbtWorker:
        """The step's dbt worker, started on first use (it stays alive for the step)."""
        key = f"{context.run.run_id}/{_step_key(context)}"
        with self._workers_lock:
            worker = self._workers.get(key)
            if worker is not None and worker.alive():
                return worker
            self._workers.pop(key, None)
        if worker is not None:
            context.log.warning(
                f"dbt worker (pid {worker.pid}) of this step is gone; starting another. "
                f"Its log ends:\n{worker.log_tail()}"
            )
            worker.stop()
        # Started outside the lock (seconds: it imports dbt), so that steps sharing this
        # resource in threads start theirs at once; one step's commands come one at a time.
        worker = DbtWorker(self.worker_cwd, self.reparse_on_vars, self._parse_ahead())
        with self._workers_lock:
            self._workers[key] = worker
        # Thread mode shares the run's resources: stop the worker with its step, not at the
        # run's end.
        at_step_end(lambda: self._stop_worker(key))
        context.log.info(
            f"dbt worker started (pid {worker.pid}): the step's dbt commands run in it"
        )
        return worker

    def _parse_ahead(self) -> dict[str, Any] | None:
        """What the worker parses before the first command: the parse dagster-dbt's commands
        ask for (its ``DBT_PROJECT_DIR`` and ``DBT_PROFILES_DIR``, ``--profile``, ``--target``),
        without vars; none without a profiles directory (dbt would look for one elsewhere)."""
        if not self.profiles_dir:
            return None
        return {
            "project_dir": str(self.project_dir),
            "profiles_dir": str(self.profiles_dir),
            "profile": self.profile,
            "target": self.target,
            "partial_parse": str(Path(self.project_dir) / "target" / "partial_parse.msgpack"),
        }

    def worker_pid(self, context: Context) -> int | None:
        """The pid of the step's running dbt worker (None: none is running)."""
        worker = self._workers.get(f"{context.run.run_id}/{_step_key(context)}")
        return worker.pid if worker is not None and worker.alive() else None

    def call_in_worker(self, context: Context, function: str, **kwargs: Any) -> Any:
        """Calls ``function`` (``"package.module:name"``, JSON-serialisable ``kwargs`` and
        result) in the step's dbt worker, between commands: for work that must share the dbt
        process, e.g. reading a DuckDB file that dbt holds open there."""
        return self.worker(context).call(function, **kwargs)

    def _stop_worker(self, key: str) -> None:
        with self._workers_lock:
            worker = self._workers.pop(key, None)
        if worker is not None:
            worker.stop()

    def stop_workers(self) -> None:
        """Stops the dbt workers this resource started (at the step's end, by Dagster)."""
        with self._workers_lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.stop_workers()

    def _cap_source(self, context: Context | None) -> Callable[[], int | None] | None:
        """How the live cap changes during a command (None: it does not)."""
        run_id = context.run.run_id if context is not None else None
        if not self.gate:
            return None
        if under_adaptive_executor(run_id):
            return lambda: live_cap(run_id)
        if self.memory_pause_percent is None:
            return None
        # The tighter of host and the process's cgroup, as the adaptive executor reads them.
        container = ContainerProbe()
        policy = CapPolicy(
            max_concurrent=self.max_concurrent or 1_000_000,
            memory_pause_percent=self.memory_pause_percent,
            memory_resume_percent=max(0.0, self.memory_pause_percent - 10),
            memory_per_step_gb=None,
            cpu_saturation_percent=None,
            cpu_count=container.cpu_limit(host_cpu_count()).cpus,
        )
        probe, state = ProcessTreeProbe(container=container), [CapState()]

        def cap() -> int:
            decision = decide_cap(policy, probe.read(), state[0])
            state[0] = decision.state
            return decision.cap

        return cap

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: Any = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: Context | None = None,
        target_path: Path | None = None,
        run_context: Context | None = None,
    ) -> GatedDbtCliInvocation:
        """``DbtCliResource.cli``, gated; see the class docstring. ``run_context``: the step
        whose run's limits, live cap and dbt worker govern a command when ``context`` is not
        given (a command whose selection is all in ``args``, not taken from the step's assets)."""
        step = context or run_context
        target = Path(target_path or self._get_unique_target_path(context=step))
        if not target.is_absolute():
            target = Path(self.project_dir) / target
        target.mkdir(parents=True, exist_ok=True)
        settings = self.gate_settings(step)
        settings["cwd"] = self.worker_cwd
        worker = self.worker(step) if step is not None and self.keep_worker else None
        if worker is not None:
            settings.update(worker=worker.socket_path, worker_log=worker.log_path)
        (target / GATE_FILE).write_text(json.dumps(settings))
        if settings["cap"] is not None:
            write_cap(target, settings["cap"])
        if step is not None:
            if Path(self.dbt_executable).name != "orch-dbt":
                step.log.warning(
                    f"GatedDbtCliResource.dbt_executable is {self.dbt_executable!r}, not orch-dbt: "
                    "this command's models are NOT gated"
                )
            step.log.info(describe_gate(settings))
        with _WORKING_DIRECTORY.kept():
            invocation = super().cli(
                args,
                raise_on_error=raise_on_error,
                manifest=manifest,
                dagster_dbt_translator=dagster_dbt_translator,
                context=context,
                target_path=target,
            )
        gated = GatedDbtCliInvocation.adopt(
            invocation,
            workload=step.op_execution_context.op.name if step is not None else "",
            record_history=self.record_history,
            run_context=run_context if context is None else None,
            worker_pid=worker.pid if worker is not None else None,
        )
        if step is not None:
            warm_up_timeline()
        source = self._cap_source(step)
        if source is not None:
            follow_cap(gated.process, target, source)
        return gated


def _step_key(context: Context) -> str:
    return context.op_execution_context.get_step_execution_context().step.key


def describe_gate(settings: Mapping[str, Any]) -> str:
    """One line for the step's log: how the models of the command are gated."""
    limits = ", ".join(
        f"{name} {'up to the cap' if limit is None else limit}"
        for name, limit in settings["class_limits"].items()
    )
    if settings.get("run_slots"):
        limits += "; shared by every gated dbt command of this run"
    cap = settings.get("cap")
    return (
        f"dbt models gated by execution class ({limits}; from {settings['source']}), "
        f"live cap {cap if cap is not None else 'dbt --threads'} at start; models without a "
        f"class: {settings['default_execution_class']}"
    )
