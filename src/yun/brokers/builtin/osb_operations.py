"""The built-in broker's decisions, free of HTTP: what a provision, update, deprovision, bind or
unbind request comes to, given what the broker remembers.

Provision, update and deprovision are asynchronous: the request records an operation "in
progress" and a worker thread runs the backend call, then records "succeeded" or "failed". At
most one operation runs per instance; synchronous work (bind, unbind, backup, restore) reserves
the instance for its duration, so a request meeting either gets `ConcurrencyError`. Operations
still "in progress" when the process died are run again on start: backend calls are idempotent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yun.brokers.builtin.base import BackendError, ServiceBackend
from yun.brokers.builtin.osb_state import (
    DEPROVISION,
    FAILED,
    IN_PROGRESS,
    PROVISION,
    SUCCEEDED,
    UPDATE,
    Binding,
    Instance,
    Operation,
    StateFile,
)

log = logging.getLogger(__name__)

UNEXPECTED = "unexpected error in the built-in broker (see the yun server log)"
DONE = {
    PROVISION: "The service is ready.",
    UPDATE: "The service was updated.",
    DEPROVISION: "The service and its data were deleted.",
}


@dataclass(frozen=True)
class BrokerSettings:
    workers: int = 3
    retry_after: int = 1  # seconds a platform should wait between last_operation polls
    close_timeout: float = 5.0  # how long close() waits for running backend calls
    gone_kept: int = 1000  # deprovisioned instances remembered, to answer 410 rather than 404


class OsbError(Exception):
    """A request the broker refuses; `description` is one line for the user."""

    def __init__(self, status: int, description: str, *, error: str = "") -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.error = error


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _busy(instance_id: str) -> OsbError:
    return OsbError(
        422,
        f"another operation on service instance {instance_id} is in progress;"
        " try again when it has finished",
        error="ConcurrencyError",
    )


def _backend_failed(exc: BackendError) -> OsbError:
    return OsbError(502, str(exc).strip() or type(exc).__name__)


class Workers:
    """A few daemon threads for backend work: a backend call that hangs never holds up exit,
    and work not started by `close()` stays "in progress" on disk, to be resumed."""

    def __init__(self, *, count: int, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{number}", daemon=True)
            for number in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], None]) -> None:
        self._queue.put(work)

    def _loop(self) -> None:
        while (work := self._queue.get()) is not None and not self._closed.is_set():
            try:
                work()
            except Exception:
                log.exception("built-in broker: backend work failed")

    def close(self, timeout: float) -> None:
        self._closed.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class Operations:
    def __init__(
        self,
        *,
        backends: Sequence[ServiceBackend],
        state: StateFile,
        settings: BrokerSettings,
    ) -> None:
        self._backends = {backend.offering.id: backend for backend in backends}
        self._file = state
        self._settings = settings
        self._lock = threading.Lock()
        self._state = state.load()
        self._reserved: set[str] = set()  # instances busy with bind, unbind, backup, restore
        self._workers = Workers(count=settings.workers, name="yun-osb")
        with self._lock:
            for instance_id, instance in self._state.instances.items():
                if instance.operation.state == IN_PROGRESS:
                    log.info(
                        "built-in broker: resuming %s of %s", instance.operation.kind, instance_id
                    )
                    self._workers.submit(
                        functools.partial(self._run, instance_id, instance.operation.id)
                    )

    def close(self) -> None:
        self._workers.close(self._settings.close_timeout)

    # -- instances ------------------------------------------------------------------------

    def provision(
        self,
        instance_id: str,
        *,
        service_id: str,
        plan_id: str,
        parameters: dict[str, Any],
        context: dict[str, Any],
    ) -> Reply:
        backend = self._offered(service_id)
        if backend.offering.plan(plan_id) is None:
            raise OsbError(400, f"plan_id {plan_id!r} is not a plan of {backend.offering.name}")
        with self._lock:
            instance = self._state.instances.get(instance_id)
            if instance is None:
                self._state.gone.pop(instance_id, None)
                instance = Instance(
                    service_id=service_id,
                    plan_id=plan_id,
                    parameters=parameters,
                    context=context,
                    operation=Operation(id="", kind=PROVISION, state=FAILED),
                )
                self._state.instances[instance_id] = instance
                return self._start(instance_id, instance, kind=PROVISION)
            same = (instance.service_id, instance.plan_id, instance.parameters) == (
                service_id,
                plan_id,
                parameters,
            )
            operation = instance.operation
            if operation.state == IN_PROGRESS and operation.kind != PROVISION:
                raise _busy(instance_id)
            if not same:
                raise OsbError(
                    409,
                    f"service instance {instance_id} already exists with another offering,"
                    " plan or parameters",
                )
            if operation.state == IN_PROGRESS:
                return Reply(202, {"operation": operation.id})
            if instance.provisioned:
                return Reply(200, {})
            if instance_id in self._reserved:
                raise _busy(instance_id)
            instance.context = context
            return self._start(instance_id, instance, kind=PROVISION)  # a failed one, again

    def update(
        self,
        instance_id: str,
        *,
        service_id: str,
        plan_id: str | None,
        parameters: dict[str, Any] | None,
    ) -> Reply:
        backend = self._offered(service_id)
        offering = backend.offering
        with self._lock:
            instance = self._existing(instance_id)
            if instance.service_id != service_id:
                raise OsbError(
                    400, f"service_id {service_id!r} is not the offering of {instance_id}"
                )
            target_plan = plan_id or instance.plan_id
            if offering.plan(target_plan) is None:
                raise OsbError(400, f"plan_id {target_plan!r} is not a plan of {offering.name}")
            target = {**instance.parameters, **(parameters or {})}
            operation = instance.operation
            if operation.state == IN_PROGRESS:
                if operation.kind == UPDATE and (operation.plan_id, operation.parameters) == (
                    target_plan,
                    target,
                ):
                    return Reply(202, {"operation": operation.id})
                raise _busy(instance_id)
            if instance_id in self._reserved:
                raise _busy(instance_id)
            if not instance.provisioned:
                raise OsbError(422, f"service instance {instance_id} was never created")
            if target_plan != instance.plan_id and not offering.plan_updateable:
                raise OsbError(
                    422,
                    f"{offering.name} cannot change the plan of an existing instance",
                    error="PlanChangeNotSupported",
                )
            if (target_plan, target) == (instance.plan_id, instance.parameters):
                return Reply(200, {})
            return self._start(
                instance_id, instance, kind=UPDATE, plan_id=target_plan, parameters=target
            )

    def deprovision(self, instance_id: str) -> Reply:
        with self._lock:
            instance = self._state.instances.get(instance_id)
            if instance is None:
                return Reply(410, {})
            operation = instance.operation
            if operation.state == IN_PROGRESS and operation.kind == DEPROVISION:
                return Reply(202, {"operation": operation.id})
            if operation.state == IN_PROGRESS or instance_id in self._reserved:
                raise _busy(instance_id)
            return self._start(instance_id, instance, kind=DEPROVISION)

    def fetch(self, instance_id: str) -> Reply:
        with self._lock:
            instance = self._existing(instance_id)
            operation = instance.operation
            if not instance.provisioned:
                being = (
                    "is being created" if operation.state == IN_PROGRESS else "was never created"
                )
                raise OsbError(404, f"service instance {instance_id} {being}")
            if operation.state == IN_PROGRESS and operation.kind == UPDATE:
                raise _busy(instance_id)
            return Reply(
                200,
                {
                    "service_id": instance.service_id,
                    "plan_id": instance.plan_id,
                    "parameters": instance.parameters,
                },
            )

    def last_operation(self, instance_id: str, *, operation_id: str | None) -> Reply:
        with self._lock:
            if instance_id in self._state.gone and instance_id not in self._state.instances:
                return Reply(410, {})
            operation = self._existing(instance_id).operation
            if operation_id and operation_id != operation.id:
                raise OsbError(
                    400,
                    f"operation {operation_id!r} is not the last operation of {instance_id}",
                )
            body: dict[str, Any] = {"state": operation.state, "description": operation.description}
            if operation.state == FAILED and operation.kind == UPDATE:
                body.update(instance_usable=True, update_repeatable=True)
            if operation.state == IN_PROGRESS:
                return Reply(200, body, {"Retry-After": str(self._settings.retry_after)})
            return Reply(200, body)

    # -- bindings -------------------------------------------------------------------------

    def bind(
        self,
        instance_id: str,
        binding_id: str,
        *,
        service_id: str,
        plan_id: str,
        parameters: dict[str, Any],
        bind_resource: dict[str, Any],
    ) -> Reply:
        with self._lock:
            instance = self._existing(instance_id)
            if instance.service_id != service_id:
                raise OsbError(
                    400, f"service_id {service_id!r} is not the offering of {instance_id}"
                )
            asked = (service_id, plan_id, parameters, bind_resource)
            binding = instance.bindings.get(binding_id)
            if binding is not None:
                known = (binding.service_id, binding.plan_id, binding.parameters)
                if (*known, binding.bind_resource) == asked:
                    return Reply(200, {"credentials": binding.credentials})
                raise OsbError(
                    409, f"service binding {binding_id} already exists with other parameters"
                )
            if instance.operation.state == IN_PROGRESS or instance_id in self._reserved:
                raise _busy(instance_id)
            if not instance.provisioned:
                raise OsbError(422, f"service instance {instance_id} was never created")
            if plan_id != instance.plan_id:
                raise OsbError(400, f"plan_id {plan_id!r} is not the plan of {instance_id}")
            backend = self._serving(instance)
            if not backend.offering.bindable:
                raise OsbError(400, f"{backend.offering.name} instances cannot be bound")
            self._reserved.add(instance_id)
        try:
            credentials = backend.bind(instance_id, binding_id, parameters=parameters)
            with self._lock:
                instance.bindings[binding_id] = Binding(
                    service_id=service_id,
                    plan_id=plan_id,
                    parameters=parameters,
                    bind_resource=bind_resource,
                    credentials=credentials,
                )
                self._save()
        except Exception as exc:
            self._revoke(backend, instance_id, binding_id)
            with self._lock:
                instance.bindings.pop(binding_id, None)
            if isinstance(exc, BackendError):
                raise _backend_failed(exc) from None
            raise
        finally:
            self._release(instance_id)
        return Reply(201, {"credentials": credentials})

    def unbind(self, instance_id: str, binding_id: str) -> Reply:
        with self._lock:
            instance = self._state.instances.get(instance_id)
            if instance is None or binding_id not in instance.bindings:
                return Reply(410, {})
            if instance.operation.state == IN_PROGRESS or instance_id in self._reserved:
                raise _busy(instance_id)
            backend = self._serving(instance)
            self._reserved.add(instance_id)
        try:
            backend.unbind(instance_id, binding_id)
            self._drop_binding(instance_id, binding_id)
        except BackendError as exc:
            raise _backend_failed(exc) from None
        finally:
            self._release(instance_id)
        return Reply(200, {})

    def fetch_binding(self, instance_id: str, binding_id: str) -> Reply:
        with self._lock:
            binding = self._existing(instance_id).bindings.get(binding_id)
            if binding is None:
                raise OsbError(404, f"service binding {binding_id} does not exist")
            return Reply(
                200, {"credentials": binding.credentials, "parameters": binding.parameters}
            )

    # -- backups (Yun's extension) --------------------------------------------------------

    def check_restore(self, instance_id: str, *, backup_format: str) -> None:
        """Refuse early, before a large upload, what `restore` would refuse."""
        with self._lock:
            self._dumpable(instance_id, backup_format=backup_format)

    def backup(self, instance_id: str, target: Path) -> str:
        with self._dumping(instance_id, backup_format="") as (backend, service_id):
            try:
                backup_format = backend.backup(instance_id, target)
            except BackendError as exc:
                raise _backend_failed(exc) from None
            with self._lock:
                if self._state.backup_formats.get(service_id) != backup_format:
                    self._state.backup_formats[service_id] = backup_format
                    self._save()
        return backup_format

    def restore(self, instance_id: str, source: Path, *, backup_format: str) -> None:
        with self._dumping(instance_id, backup_format=backup_format) as (backend, _):
            try:
                backend.restore(instance_id, source)
            except BackendError as exc:
                raise _backend_failed(exc) from None

    # -- helpers (callers hold the lock unless said otherwise) ----------------------------

    def _offered(self, service_id: str) -> ServiceBackend:
        backend = self._backends.get(service_id)
        if backend is None:
            raise OsbError(400, f"service_id {service_id!r} is not an offering of this broker")
        return backend

    def _serving(self, instance: Instance) -> ServiceBackend:
        backend = self._backends.get(instance.service_id)
        if backend is None:
            raise OsbError(422, f"offering {instance.service_id} is no longer served here")
        return backend

    def _existing(self, instance_id: str) -> Instance:
        instance = self._state.instances.get(instance_id)
        if instance is None:
            raise OsbError(404, f"service instance {instance_id} does not exist")
        return instance

    def _dumpable(self, instance_id: str, *, backup_format: str) -> tuple[ServiceBackend, str]:
        instance = self._existing(instance_id)
        if instance.operation.state == IN_PROGRESS or instance_id in self._reserved:
            raise OsbError(409, f"service instance {instance_id} is busy with another operation")
        if not instance.provisioned:
            raise OsbError(409, f"service instance {instance_id} was never created")
        backend = self._serving(instance)
        known = self._state.backup_formats.get(instance.service_id, "")
        if backup_format and known and backup_format != known:
            raise OsbError(
                400,
                f"this is a {backup_format} dump; {backend.offering.name} restores {known} dumps",
            )
        return backend, instance.service_id

    @contextlib.contextmanager
    def _dumping(
        self, instance_id: str, *, backup_format: str
    ) -> Iterator[tuple[ServiceBackend, str]]:
        """Reserve a created, idle instance for a backup or a restore (takes the lock)."""
        with self._lock:
            found = self._dumpable(instance_id, backup_format=backup_format)
            self._reserved.add(instance_id)
        try:
            yield found
        finally:
            self._release(instance_id)

    def _release(self, instance_id: str) -> None:
        with self._lock:
            self._reserved.discard(instance_id)

    def _save(self) -> None:
        self._file.save(self._state)

    def _start(
        self,
        instance_id: str,
        instance: Instance,
        *,
        kind: str,
        plan_id: str = "",
        parameters: Mapping[str, Any] | None = None,
    ) -> Reply:
        offering = self._offered(instance.service_id).offering
        plan = offering.plan(plan_id or instance.plan_id)
        plan_name = plan.name if plan else instance.plan_id
        description = {
            PROVISION: f"Creating the {offering.name} service (plan {plan_name}).",
            UPDATE: f"Updating the {offering.name} service (plan {plan_name}).",
            DEPROVISION: f"Deleting the {offering.name} service and its data.",
        }[kind]
        operation = Operation(
            id=f"{kind}-{uuid.uuid4().hex}",
            kind=kind,
            state=IN_PROGRESS,
            description=description,
            plan_id=plan_id,
            parameters=dict(parameters or {}),
        )
        instance.operation = operation
        self._save()
        self._workers.submit(functools.partial(self._run, instance_id, operation.id))
        return Reply(202, {"operation": operation.id})

    def _revoke(self, backend: ServiceBackend, instance_id: str, binding_id: str) -> None:
        """Take back what a failed bind may have created (no lock held)."""
        try:
            backend.unbind(instance_id, binding_id)
        except Exception:
            log.exception("built-in broker: cleaning up failed binding %s", binding_id)

    def _drop_binding(self, instance_id: str, binding_id: str) -> None:
        with self._lock:
            instance = self._state.instances.get(instance_id)
            if instance is not None and instance.bindings.pop(binding_id, None) is not None:
                self._save()

    # -- the worker side (no lock held) ---------------------------------------------------

    def _run(self, instance_id: str, operation_id: str) -> None:
        with self._lock:
            instance = self._state.instances.get(instance_id)
            if instance is None or instance.operation.id != operation_id:
                return
            operation = instance.operation
            if operation.state != IN_PROGRESS:
                return
            backend = self._backends.get(instance.service_id)
            plan_id, parameters = instance.plan_id, dict(instance.parameters)
            bindings = list(instance.bindings)
        if backend is None:
            gone = f"offering {instance.service_id} is no longer served by this broker"
            self._finish(instance_id, operation_id, error=gone)
            return
        try:
            if operation.kind == PROVISION:
                backend.provision(instance_id, plan_id=plan_id, parameters=parameters)
            elif operation.kind == UPDATE:
                backend.update(
                    instance_id, plan_id=operation.plan_id, parameters=dict(operation.parameters)
                )
            else:
                for binding_id in bindings:
                    backend.unbind(instance_id, binding_id)
                    self._drop_binding(instance_id, binding_id)
                backend.deprovision(instance_id)
        except BackendError as exc:
            self._finish(instance_id, operation_id, error=str(exc).strip() or type(exc).__name__)
        except Exception:
            log.exception("built-in broker: %s of %s failed", operation.kind, instance_id)
            self._finish(instance_id, operation_id, error=UNEXPECTED)
        else:
            self._finish(instance_id, operation_id, error=None)

    def _finish(self, instance_id: str, operation_id: str, *, error: str | None) -> None:
        with self._lock:
            instance = self._state.instances.get(instance_id)
            if instance is None or instance.operation.id != operation_id:
                return
            operation = instance.operation
            if error is not None:
                operation.state, operation.description = FAILED, error
            else:
                operation.state, operation.description = SUCCEEDED, DONE[operation.kind]
                if operation.kind == PROVISION:
                    instance.provisioned = True
                elif operation.kind == UPDATE:
                    instance.plan_id, instance.parameters = operation.plan_id, operation.parameters
                else:
                    self._state.forget(
                        instance_id, operation_id=operation_id, keep_gone=self._settings.gone_kept
                    )
            self._save()
