"""Prefect's sort orders for the ``*/filter`` endpoints; the JSON value is the name.

Each enum holds the values a Prefect 3.9 server accepts. Prefect's client also lists
``TaskRunSort.START_TIME_ASC/DESC`` and ``DeploymentSort.CONCURRENCY_LIMIT_ASC/DESC``,
which the server answers with 422; they are left out so the mistake shows at once.
Prefect has no sort order for work pools.
"""

import enum

__all__ = [
    "ArtifactCollectionSort",
    "ArtifactSort",
    "AutomationSort",
    "BlockDocumentSort",
    "DeploymentSort",
    "FlowRunSort",
    "FlowSort",
    "LogSort",
    "TaskRunSort",
    "VariableSort",
]


class FlowSort(str, enum.Enum):
    """Sort orders for ``POST /flows/filter``."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


class FlowRunSort(str, enum.Enum):
    """Sort orders for ``POST /flow_runs/filter`` (the START_TIME ones fall back to the
    expected start time for runs that have not started)."""

    ID_DESC = "ID_DESC"
    START_TIME_ASC = "START_TIME_ASC"
    START_TIME_DESC = "START_TIME_DESC"
    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    NEXT_SCHEDULED_START_TIME_ASC = "NEXT_SCHEDULED_START_TIME_ASC"
    END_TIME_DESC = "END_TIME_DESC"


class TaskRunSort(str, enum.Enum):
    """Sort orders for ``POST /task_runs/filter``."""

    ID_DESC = "ID_DESC"
    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    NEXT_SCHEDULED_START_TIME_ASC = "NEXT_SCHEDULED_START_TIME_ASC"
    END_TIME_DESC = "END_TIME_DESC"


class DeploymentSort(str, enum.Enum):
    """Sort orders for ``POST /deployments/filter``."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


class LogSort(str, enum.Enum):
    """Sort orders for ``POST /logs/filter``."""

    TIMESTAMP_ASC = "TIMESTAMP_ASC"
    TIMESTAMP_DESC = "TIMESTAMP_DESC"


class VariableSort(str, enum.Enum):
    """Sort orders for ``POST /variables/filter``."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_DESC = "NAME_DESC"
    NAME_ASC = "NAME_ASC"


class ArtifactSort(str, enum.Enum):
    """Sort orders for ``POST /artifacts/filter``."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    ID_DESC = "ID_DESC"
    KEY_DESC = "KEY_DESC"
    KEY_ASC = "KEY_ASC"


class BlockDocumentSort(str, enum.Enum):
    """Sort orders for ``POST /block_documents/filter``."""

    NAME_DESC = "NAME_DESC"
    NAME_ASC = "NAME_ASC"
    BLOCK_TYPE_AND_NAME_ASC = "BLOCK_TYPE_AND_NAME_ASC"


class AutomationSort(str, enum.Enum):
    """Sort orders for ``POST /automations/filter``."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


class ArtifactCollectionSort(str, enum.Enum):
    """Sort orders for ``POST /artifacts/latest/filter``."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    ID_DESC = "ID_DESC"
    KEY_DESC = "KEY_DESC"
    KEY_ASC = "KEY_ASC"
