"""Every endpoint, listed once; both clients inherit this list.

Each attribute is a plan from a resource module made into a method by `endpoint`: a
coroutine method on `PrefectClient`, a blocking one on `SyncPrefectClient`. The type
checker sees the plans themselves; at run time each resource module is imported when one
of its endpoints is first called (`LazyPlans`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_trio_client.orchestration._plan import LazyPlans, endpoint

if TYPE_CHECKING:
    from prefect_trio_client.orchestration import (
        admin,
        artifacts,
        automations,
        blocks,
        concurrency,
        deployments,
        events,
        flow_runs,
        flows,
        logs,
        raw,
        run_states,
        tag_concurrency,
        task_runs,
        variables,
        work_pools,
    )
else:
    # Imported on an endpoint's first call, with the schemas it reads and writes: importing
    # a client costs none of them (README, "Import cost").
    admin = LazyPlans("prefect_trio_client.orchestration.admin")
    artifacts = LazyPlans("prefect_trio_client.orchestration.artifacts")
    automations = LazyPlans("prefect_trio_client.orchestration.automations")
    blocks = LazyPlans("prefect_trio_client.orchestration.blocks")
    concurrency = LazyPlans("prefect_trio_client.orchestration.concurrency")
    deployments = LazyPlans("prefect_trio_client.orchestration.deployments")
    events = LazyPlans("prefect_trio_client.orchestration.events")
    flow_runs = LazyPlans("prefect_trio_client.orchestration.flow_runs")
    flows = LazyPlans("prefect_trio_client.orchestration.flows")
    logs = LazyPlans("prefect_trio_client.orchestration.logs")
    raw = LazyPlans("prefect_trio_client.orchestration.raw")
    run_states = LazyPlans("prefect_trio_client.orchestration.run_states")
    tag_concurrency = LazyPlans("prefect_trio_client.orchestration.tag_concurrency")
    task_runs = LazyPlans("prefect_trio_client.orchestration.task_runs")
    variables = LazyPlans("prefect_trio_client.orchestration.variables")
    work_pools = LazyPlans("prefect_trio_client.orchestration.work_pools")

__all__ = ["Endpoints"]


class Endpoints:
    """The API's methods, grouped as the resource modules are."""

    # any route (Prefect's generic request)
    request = endpoint(raw.request)

    # admin
    api_healthcheck = endpoint(admin.api_healthcheck)
    api_version = endpoint(admin.api_version)
    hello = endpoint(admin.hello)

    # flows
    create_flow_from_name = endpoint(flows.create_flow_from_name)
    delete_flow = endpoint(flows.delete_flow)
    read_flow = endpoint(flows.read_flow)
    read_flow_by_name = endpoint(flows.read_flow_by_name)
    read_flows = endpoint(flows.read_flows)

    # flow runs
    count_flow_runs = endpoint(flow_runs.count_flow_runs)
    create_flow_run = endpoint(flow_runs.create_flow_run)
    delete_flow_run = endpoint(flow_runs.delete_flow_run)
    read_flow_run = endpoint(flow_runs.read_flow_run)
    read_flow_run_states = endpoint(flow_runs.read_flow_run_states)
    read_flow_runs = endpoint(flow_runs.read_flow_runs)
    resume_flow_run = endpoint(flow_runs.resume_flow_run)
    set_flow_run_name = endpoint(flow_runs.set_flow_run_name)
    update_flow_run = endpoint(flow_runs.update_flow_run)
    update_flow_run_labels = endpoint(flow_runs.update_flow_run_labels)

    # run states
    propose_state = endpoint(run_states.propose_state)
    set_flow_run_state = endpoint(run_states.set_flow_run_state)
    set_task_run_state = endpoint(run_states.set_task_run_state)

    # task runs
    create_task_run = endpoint(task_runs.create_task_run)
    delete_task_run = endpoint(task_runs.delete_task_run)
    read_task_run = endpoint(task_runs.read_task_run)
    read_task_run_states = endpoint(task_runs.read_task_run_states)
    read_task_runs = endpoint(task_runs.read_task_runs)

    # deployments
    create_deployment = endpoint(deployments.create_deployment)
    create_flow_run_from_deployment = endpoint(deployments.create_flow_run_from_deployment)
    delete_deployment = endpoint(deployments.delete_deployment)
    get_scheduled_flow_runs_for_deployments = endpoint(
        deployments.get_scheduled_flow_runs_for_deployments
    )
    read_deployment = endpoint(deployments.read_deployment)
    read_deployment_by_name = endpoint(deployments.read_deployment_by_name)
    read_deployments = endpoint(deployments.read_deployments)
    update_deployment = endpoint(deployments.update_deployment)

    # logs
    create_logs = endpoint(logs.create_logs)
    read_logs = endpoint(logs.read_logs)

    # variables
    create_variable = endpoint(variables.create_variable)
    delete_variable_by_name = endpoint(variables.delete_variable_by_name)
    read_variable_by_name = endpoint(variables.read_variable_by_name)
    read_variables = endpoint(variables.read_variables)
    update_variable = endpoint(variables.update_variable)

    # work pools
    create_work_pool = endpoint(work_pools.create_work_pool)
    create_work_queue = endpoint(work_pools.create_work_queue)
    delete_work_pool = endpoint(work_pools.delete_work_pool)
    get_scheduled_flow_runs_for_work_pool = endpoint(
        work_pools.get_scheduled_flow_runs_for_work_pool
    )
    read_work_pool = endpoint(work_pools.read_work_pool)
    read_work_pools = endpoint(work_pools.read_work_pools)
    read_work_queue_by_name = endpoint(work_pools.read_work_queue_by_name)
    read_work_queues = endpoint(work_pools.read_work_queues)
    send_worker_heartbeat = endpoint(work_pools.send_worker_heartbeat)
    update_work_pool = endpoint(work_pools.update_work_pool)

    # concurrency
    create_global_concurrency_limit = endpoint(concurrency.create_global_concurrency_limit)
    delete_global_concurrency_limit_by_name = endpoint(
        concurrency.delete_global_concurrency_limit_by_name
    )
    increment_concurrency_slots_with_lease = endpoint(
        concurrency.increment_concurrency_slots_with_lease
    )
    read_global_concurrency_limit_by_name = endpoint(
        concurrency.read_global_concurrency_limit_by_name
    )
    release_concurrency_slots_with_lease = endpoint(
        concurrency.release_concurrency_slots_with_lease
    )
    renew_concurrency_lease = endpoint(concurrency.renew_concurrency_lease)

    # artifacts
    create_artifact = endpoint(artifacts.create_artifact)
    read_artifacts = endpoint(artifacts.read_artifacts)

    # blocks
    create_block_document = endpoint(blocks.create_block_document)
    create_block_schema = endpoint(blocks.create_block_schema)
    create_block_type = endpoint(blocks.create_block_type)
    delete_block_document = endpoint(blocks.delete_block_document)
    delete_block_type = endpoint(blocks.delete_block_type)
    get_most_recent_block_schema_for_block_type = endpoint(
        blocks.get_most_recent_block_schema_for_block_type
    )
    read_block_document = endpoint(blocks.read_block_document)
    read_block_document_by_name = endpoint(blocks.read_block_document_by_name)
    read_block_documents = endpoint(blocks.read_block_documents)
    read_block_documents_by_type = endpoint(blocks.read_block_documents_by_type)
    read_block_schema_by_checksum = endpoint(blocks.read_block_schema_by_checksum)
    read_block_schemas = endpoint(blocks.read_block_schemas)
    read_block_type_by_slug = endpoint(blocks.read_block_type_by_slug)
    read_block_types = endpoint(blocks.read_block_types)
    update_block_document = endpoint(blocks.update_block_document)
    update_block_type = endpoint(blocks.update_block_type)
    # automations
    create_automation = endpoint(automations.create_automation)
    delete_automation = endpoint(automations.delete_automation)
    delete_resource_owned_automations = endpoint(automations.delete_resource_owned_automations)
    find_automation = endpoint(automations.find_automation)
    pause_automation = endpoint(automations.pause_automation)
    read_automation = endpoint(automations.read_automation)
    read_automations = endpoint(automations.read_automations)
    read_automations_by_name = endpoint(automations.read_automations_by_name)
    read_resource_related_automations = endpoint(automations.read_resource_related_automations)
    resume_automation = endpoint(automations.resume_automation)
    update_automation = endpoint(automations.update_automation)
    # issue 11, limits and deployments: tag (v1) limits
    create_concurrency_limit = endpoint(tag_concurrency.create_concurrency_limit)
    decrement_v1_concurrency_slots = endpoint(tag_concurrency.decrement_v1_concurrency_slots)
    delete_concurrency_limit_by_tag = endpoint(tag_concurrency.delete_concurrency_limit_by_tag)
    increment_v1_concurrency_slots = endpoint(tag_concurrency.increment_v1_concurrency_slots)
    read_concurrency_limit_by_tag = endpoint(tag_concurrency.read_concurrency_limit_by_tag)
    read_concurrency_limits = endpoint(tag_concurrency.read_concurrency_limits)
    reset_concurrency_limit_by_tag = endpoint(tag_concurrency.reset_concurrency_limit_by_tag)

    # issue 11, limits and deployments: global (v2) limits without a lease
    increment_concurrency_slots = endpoint(concurrency.increment_concurrency_slots)
    read_global_concurrency_limits = endpoint(concurrency.read_global_concurrency_limits)
    release_concurrency_slots = endpoint(concurrency.release_concurrency_slots)
    update_global_concurrency_limit = endpoint(concurrency.update_global_concurrency_limit)
    upsert_global_concurrency_limit_by_name = endpoint(
        concurrency.upsert_global_concurrency_limit_by_name
    )

    # issue 11, limits and deployments: deployment schedules, pausing, branches, SLAs
    apply_slas_for_deployment = endpoint(deployments.apply_slas_for_deployment)
    create_deployment_branch = endpoint(deployments.create_deployment_branch)
    create_deployment_schedules = endpoint(deployments.create_deployment_schedules)
    delete_deployment_schedule = endpoint(deployments.delete_deployment_schedule)
    pause_deployment = endpoint(deployments.pause_deployment)
    read_deployment_schedules = endpoint(deployments.read_deployment_schedules)
    resume_deployment = endpoint(deployments.resume_deployment)
    set_deployment_paused_state = endpoint(deployments.set_deployment_paused_state)
    update_deployment_schedule = endpoint(deployments.update_deployment_schedule)
    # issue 11: queues-misc
    # work queues and workers
    delete_work_queue_by_id = endpoint(work_pools.delete_work_queue_by_id)
    get_runs_in_work_queue = endpoint(work_pools.get_runs_in_work_queue)
    match_work_queues = endpoint(work_pools.match_work_queues)
    read_work_pool_concurrency_status = endpoint(work_pools.read_work_pool_concurrency_status)
    read_work_queue = endpoint(work_pools.read_work_queue)
    read_work_queue_concurrency_status = endpoint(work_pools.read_work_queue_concurrency_status)
    read_work_queue_status = endpoint(work_pools.read_work_queue_status)
    read_worker_metadata = endpoint(work_pools.read_worker_metadata)
    read_workers_for_work_pool = endpoint(work_pools.read_workers_for_work_pool)
    update_work_queue = endpoint(work_pools.update_work_queue)
    # flows, runs, artifacts, server settings
    clear_server_default_result_storage = endpoint(admin.clear_server_default_result_storage)
    create_flow = endpoint(flows.create_flow)
    create_flow_run_input = endpoint(flow_runs.create_flow_run_input)
    delete_artifact = endpoint(artifacts.delete_artifact)
    delete_flow_run_input = endpoint(flow_runs.delete_flow_run_input)
    filter_flow_run_input = endpoint(flow_runs.filter_flow_run_input)
    read_flow_run_input = endpoint(flow_runs.read_flow_run_input)
    read_flow_run_state = endpoint(flow_runs.read_flow_run_state)
    read_latest_artifacts = endpoint(artifacts.read_latest_artifacts)
    read_server_default_result_storage = endpoint(admin.read_server_default_result_storage)
    set_task_run_name = endpoint(task_runs.set_task_run_name)
    update_artifact = endpoint(artifacts.update_artifact)
    update_server_default_result_storage = endpoint(admin.update_server_default_result_storage)
    # issue 11: events
    read_events = endpoint(events.read_events)
    read_events_page = endpoint(events.read_events_page)
