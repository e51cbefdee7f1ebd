"""Jobs the executor tests run; module-level so ``reconstructable`` can load them in children.

Ops read what they need from op config or environment variables the tests set, never from
globals, because in process mode they run in another process.
"""

import asyncio
import mmap
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import (
    AssetsDefinition,
    Definitions,
    Field,
    HookDefinition,
    HookExecutionResult,
    In,
    JobDefinition,
    MetadataValue,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    Output,
    RetryPolicy,
    asset,
    define_asset_job,
    get_dagster_logger,
    job,
    op,
)

from orch_assets.executor import adaptive_executor, live_cap

WORK_DIR_ENV = "ORCH_TEST_WORK_DIR"
"""Directory where ops leave pids and attempt counters for the tests to inspect."""

_held_memory: list[mmap.mmap] = []


def _work_dir() -> Path:
    path = Path(os.environ[WORK_DIR_ENV])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sleeper(
    name: str, seconds: float, tags: dict[str, str] | None = None, pool: str | None = None
) -> OpDefinition:
    @op(name=name, tags=tags, pool=pool, ins={"after": In(Nothing)})
    def _op() -> None:
        time.sleep(seconds)

    return _op


# -- concurrency ------------------------------------------------------------------------------

WIDE_SLEEPERS = [_sleeper(f"nap_{i}", 0.5) for i in range(8)]


@job(executor_def=adaptive_executor)
def wide_sleep_job() -> None:
    for sleeper in WIDE_SLEEPERS:
        sleeper()


CLASS_SLEEPERS = [
    _sleeper(f"{cls}_{i}", 0.4, tags={"orch/execution_class": cls})
    for cls in ("sequential", "conditional", "parallel_safe")
    for i in range(3)
]


@job(executor_def=adaptive_executor)
def execution_class_job() -> None:
    for sleeper in CLASS_SLEEPERS:
        sleeper()


def _asset_sleeper(name: str, execution_class: str) -> AssetsDefinition:
    @asset(name=name, tags={"orch/execution_class": execution_class})
    def _asset() -> None:
        time.sleep(0.4)

    return _asset


ASSET_SLEEPERS = [_asset_sleeper(f"seq_asset_{i}", "sequential") for i in range(3)] + [
    _asset_sleeper(f"free_asset_{i}", "parallel_safe") for i in range(3)
]


def asset_class_job() -> JobDefinition:
    """An asset job whose execution classes are asset tags, not op tags."""
    return Definitions(
        assets=ASSET_SLEEPERS,
        jobs=[define_asset_job("asset_class_job", executor_def=adaptive_executor)],
    ).resolve_job_def("asset_class_job")


TAGGED_SLEEPERS = [_sleeper(f"duck_{i}", 0.4, tags={"database": "duckdb"}) for i in range(3)] + [
    _sleeper(f"other_{i}", 0.4) for i in range(3)
]


@job(executor_def=adaptive_executor)
def tag_limit_job() -> None:
    for sleeper in TAGGED_SLEEPERS:
        sleeper()


POOL_SLEEPERS = [_sleeper(f"pooled_{i}", 0.4, pool="orch_test_pool") for i in range(3)] + [
    _sleeper(f"unpooled_{i}", 0.4) for i in range(3)
]


@job(executor_def=adaptive_executor)
def pool_job() -> None:
    for sleeper in POOL_SLEEPERS:
        sleeper()


# -- live cap and memory ----------------------------------------------------------------------

FIRST_WAVE = [_sleeper(f"before_{i}", 0.4) for i in range(4)]
SECOND_WAVE = [_sleeper(f"after_{i}", 0.4) for i in range(4)]


@op(ins={"after": In(Nothing)}, config_schema={"gigabytes": float, "hold_s": float})
def allocate(context: OpExecutionContext) -> None:
    """Allocate and touch memory in the run process (thread mode), then wait for a reading."""
    size = int(context.op_config["gigabytes"] * 1024**3)
    block = mmap.mmap(-1, size)
    block[::4096] = b"\x01" * len(range(0, size, 4096))
    _held_memory.append(block)
    time.sleep(context.op_config["hold_s"])


@op(ins={"after": In(Nothing)})
def release(context: OpExecutionContext) -> None:
    release_held_memory()


def release_held_memory() -> None:
    while _held_memory:
        _held_memory.pop().close()


@job(executor_def=adaptive_executor)
def memory_growth_job() -> None:
    allocated = allocate([sleeper() for sleeper in FIRST_WAVE])
    release([sleeper(allocated) for sleeper in SECOND_WAVE])


@op
def report_live_cap(context: OpExecutionContext) -> Output[None]:
    return Output(
        None,
        metadata={
            "live_cap": MetadataValue.int(live_cap(context.run_id) or 0),
            "pid": MetadataValue.int(os.getpid()),
        },
    )


@job(executor_def=adaptive_executor)
def live_cap_job() -> None:
    report_live_cap()


# -- failures, timeouts, retries --------------------------------------------------------------


@op(ins={"after": In(Nothing)}, tags={"dagster/priority": "1"})
def boom() -> None:
    time.sleep(0.3)
    raise ValueError("boom went the step")


@op(ins={"after": In(Nothing)})
def after_boom() -> None:
    return None


@op(tags={"dagster/priority": "1"})
def slow_independent() -> None:
    for _ in range(60):
        time.sleep(0.1)


@job(executor_def=adaptive_executor)
def fail_fast_job() -> None:
    after_boom(boom())
    slow_independent()
    for sleeper in [_sleeper(f"queued_{i}", 0.3) for i in range(3)]:
        sleeper()


@op
def kill_own_process() -> None:
    time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)


@job(executor_def=adaptive_executor)
def crash_job() -> None:
    after_boom(kill_own_process())


@job(executor_def=adaptive_executor)
def raise_job() -> None:
    after_boom(boom())


@op(config_schema={"how": str, "seconds": float})
def hang(context: OpExecutionContext) -> None:
    """Hang in a child process, in Python bytecode, or in one uninterruptible C call."""
    how, seconds = context.op_config["how"], context.op_config["seconds"]
    if how == "subprocess":
        child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
        (_work_dir() / "child.pid").write_text(str(child.pid))
        child.wait()
    elif how == "python":
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sum(range(1000))
    else:
        time.sleep(seconds)


@job(executor_def=adaptive_executor)
def timeout_job() -> None:
    after_boom(hang())


@job(executor_def=adaptive_executor)
def tagged_timeout_job() -> None:
    after_boom(hang.tag({"orch/step_timeout_s": "1.5"})())


@op(
    retry_policy=RetryPolicy(max_retries=2),
    config_schema={"success_delay_s": Field(float, default_value=0.0)},
)
def flaky(context: OpExecutionContext) -> int:
    counter = _work_dir() / "attempts"
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    if attempts < 3:
        raise RuntimeError(f"flaky failure on attempt {attempts}")
    time.sleep(context.op_config["success_delay_s"])
    return attempts


@op
def after_flaky(value: int) -> int:
    return value


@job(executor_def=adaptive_executor)
def retry_job() -> None:
    after_flaky(flaky())


def _finish_slowly(context: object, events: list[object]) -> HookExecutionResult:
    time.sleep(0.5)
    return HookExecutionResult(hook_name="finish_slowly", is_skipped=False)


finish_slowly = HookDefinition(name="finish_slowly", hook_fn=_finish_slowly)


@job(executor_def=adaptive_executor)
def retry_with_slow_hook_job() -> None:
    """A retried attempt starts while the previous attempt's thread still runs its hook."""
    after_flaky(flaky.with_hooks({finish_slowly})())


@op
def upstream_value() -> int:
    return 20


@op
def fails_until_marker(value: int) -> int:
    if not (_work_dir() / "marker").exists():
        raise RuntimeError("marker missing")
    return value + 1


@op
def downstream_value(value: int) -> int:
    return value * 2


@job(executor_def=adaptive_executor)
def reexecution_job() -> None:
    downstream_value(fails_until_marker(upstream_value()))


# -- logs, async, long subprocesses -----------------------------------------------------------


def _chatty(name: str) -> OpDefinition:
    @op(name=name)
    def _op(context: OpExecutionContext) -> None:
        for i in range(5):
            context.log.info(f"context log from {name} #{i}")
            get_dagster_logger().info(f"python log from {name} #{i}")
            print(f"stdout from {name} #{i}")
            time.sleep(0.05)

    return _op


CHATTY = [_chatty("chatty_a"), _chatty("chatty_b"), _chatty("chatty_c")]


@job(executor_def=adaptive_executor)
def chatty_job() -> None:
    for chatty in CHATTY:
        chatty()


def _async_sleeper(name: str) -> OpDefinition:
    @op(name=name)
    async def _op() -> int:
        await asyncio.sleep(0.4)
        return 1

    return _op


@job(executor_def=adaptive_executor)
def async_job() -> None:
    for sleeper in [_async_sleeper(f"async_{i}") for i in range(3)]:
        sleeper()


@op(config_schema={"seconds": float})
def long_subprocess(context: OpExecutionContext) -> None:
    subprocess.run(
        [sys.executable, "-c", f"import time; time.sleep({context.op_config['seconds']})"],
        check=True,
    )


@job(executor_def=adaptive_executor)
def long_subprocess_job() -> None:
    long_subprocess()


defs = Definitions(jobs=[wide_sleep_job, long_subprocess_job])
"""What ``dagster job execute -m tests.test_executor.jobs`` loads."""
