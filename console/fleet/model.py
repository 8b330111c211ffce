"""The read side's names for Argo CD's Application model: every source (the Argo CD REST API and
its stream, the Kubernetes API, the embedded platform) returns `console.application.Application`
objects, and consumers (the guard, the console, `gitops status`) never see raw JSON.

These are the same types as `console.application`'s, under the names the read side grew up with
(`App`, and `Operation` for the last or running operation, `status.operationState`). Values a
server may leave out are empty strings, empty tuples or None, never missing attributes; unknown
enum values read as UNKNOWN so a newer Argo CD cannot crash an older console.
"""

from __future__ import annotations

from console.application import (
    ENV_LABEL,
    SERVICE_LABEL,
    Health,
    OperationPhase,
    Sync,
)
from console.application import Application as App
from console.application import ApplicationCondition as Condition
from console.application import ApplicationSource as Source
from console.application import OperationState as Operation
from console.application import ResourceStatus as Resource
from console.application import RevisionHistory as HistoryEntry

__all__ = [
    "ENV_LABEL",
    "SERVICE_LABEL",
    "App",
    "Condition",
    "Health",
    "HistoryEntry",
    "Operation",
    "OperationPhase",
    "Resource",
    "Source",
    "Sync",
]
