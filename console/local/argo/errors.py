"""What an ApplicationSource raises when it refuses a request: each error carries the gRPC code
and HTTP status Argo CD's API (a gRPC gateway) answers with, and the Kubernetes `Status` reason."""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """A request the source refuses. `grpc_code` and `http_status` are what Argo CD's API (a gRPC
    gateway) answers; `reason` is the Kubernetes `Status` reason for the same error."""

    grpc_code: ClassVar[int] = 2  # Unknown
    http_status: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(ApiError):
    grpc_code = 3
    http_status = 400
    reason = "BadRequest"


class NotFoundError(ApiError):
    grpc_code = 5
    http_status = 404
    reason = "NotFound"


class ApplicationNotFoundError(NotFoundError):
    """No Application of that name; the message is Argo CD's (Kubernetes') wording."""

    def __init__(self, name: str) -> None:
        super().__init__(f'applications.argoproj.io "{name}" not found')
        self.name = name


class FailedPreconditionError(ApiError):
    grpc_code = 9
    http_status = 400
    reason = "BadRequest"


class OperationInProgressError(FailedPreconditionError):
    """A sync was requested while another operation is requested or running."""

    def __init__(self, name: str) -> None:
        super().__init__("another operation is already in progress")
        self.name = name


class UnavailableError(ApiError):
    """The source cannot take the request now (a full queue); the client may retry."""

    grpc_code = 14
    http_status = 503
    reason = "ServiceUnavailable"


class UnimplementedError(ApiError):
    """What this server does not do (a source with no renderer asked for manifests)."""

    grpc_code = 12
    http_status = 501
    reason = "NotImplemented"
