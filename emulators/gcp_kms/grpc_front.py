"""The gRPC front: generic handlers over the message classes that ship with google-cloud-kms.

No generated servicer code: each RPC of :data:`.service.RPCS` is registered under
``google.cloud.kms.v1.KeyManagementService`` with the proto-plus classes' ``deserialize`` and
``serialize``, so field presence, oneofs and wrappers are decoded exactly as the service does.
Errors go out as gRPC statuses; precondition details ride in ``grpc-status-details-bin``
(``google.rpc.Status`` with a ``PreconditionFailure``), which google-api-core parses.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from .errors import KmsApiError
from .faults import Drop
from .service import RPCS, SERVICE, KmsService


def _status(error: KmsApiError) -> grpc.Status:
    details = []
    if error.violations:
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=v.type, subject=v.subject, description=v.description
                )
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(failure)
        details.append(packed)
    return rpc_status.to_status(status_pb2.Status(code=int(error.code), message=error.message, details=details))


def _handler(service: KmsService, method: str, errors: list[Exception]) -> grpc.RpcMethodHandler:
    rpc = RPCS[method]

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return service.call(method, request)
        except KmsApiError as exc:
            context.abort_with_status(_status(exc))
        except Drop:
            context.abort(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer")
        except Exception as exc:  # an emulator bug: answered INTERNAL and kept for check()
            errors.append(exc)
            context.abort(grpc.StatusCode.INTERNAL, f"kmsconform emulator bug: {exc!r}")
        raise AssertionError("unreachable")  # abort raises

    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=rpc.request.deserialize, response_serializer=rpc.response.serialize
    )


def start_grpc(
    service: KmsService, errors: list[Exception], *, host: str = "127.0.0.1", port: int = 0, workers: int = 8
) -> tuple[grpc.Server, int]:
    """A started gRPC server for ``service`` and its port (unexpected exceptions go to ``errors``)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kmsconform-gcp-grpc"))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {name: _handler(service, name, errors) for name in RPCS})]
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the gRPC front to {host}:{port}")
    server.start()
    return server, bound
