"""Jobs for the event-stream and overhead tests; module-level so ``reconstructable`` loads them."""

import time

from dagster import (
    AssetMaterialization,
    GraphDefinition,
    In,
    JobDefinition,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    graph,
    in_process_executor,
    op,
)

from orch_assets.executor import adaptive_executor


def _producer(name: str) -> OpDefinition:
    @op(name=name)
    def _op(context: OpExecutionContext) -> int:
        context.log.info(f"{name} working")
        time.sleep(0.2)
        context.log_event(AssetMaterialization(asset_key=name))
        return 1

    return _op


@op
def total(context: OpExecutionContext, values: list[int]) -> int:
    context.log.info("adding up")
    return sum(values)


@graph
def produce_and_total() -> None:
    total([_producer(f"produce_{i}")() for i in range(6)])


def _sleeper(name: str) -> OpDefinition:
    @op(name=name, ins={"after": In(Nothing)})
    def _op() -> None:
        time.sleep(1.0)

    return _op


@graph
def sixteen_sleeps() -> None:
    for i in range(16):
        _sleeper(f"sleep_{i}")()


def _job(graph_def: GraphDefinition, name: str, executor: str) -> JobDefinition:
    executor_def = adaptive_executor if executor == "adaptive" else in_process_executor
    return graph_def.to_job(name=name, executor_def=executor_def)


def produce_adaptive() -> JobDefinition:
    return _job(produce_and_total, "produce_adaptive", "adaptive")


def produce_in_process() -> JobDefinition:
    return _job(produce_and_total, "produce_in_process", "in_process")


def sixteen_sleeps_adaptive() -> JobDefinition:
    return _job(sixteen_sleeps, "sixteen_sleeps_adaptive", "adaptive")
