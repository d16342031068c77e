"""Wires the components of one machine together and runs them until SIGTERM.

The data plane outlives the control plane: stopping the server leaves app instances and HAProxy
running, and the next start adopts them instead of restarting them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from yun.agent import Agent
from yun.agent.drivers.runc import RuncDriver
from yun.agent.identity import Identities
from yun.agent.network import CniNetwork, NetworkError
from yun.agent.network.policies import PolicyTable
from yun.api.app import create_app
from yun.api.context import ApiContext
from yun.blobstore import BlobStore
from yun.controllers.acme import AcmeController
from yun.controllers.autoscaling import AutoscaleController
from yun.controllers.backing_up import BackupController
from yun.controllers.binding import BindingController
from yun.controllers.building import BuildController
from yun.controllers.certificates import RouterCertificates
from yun.controllers.cron import CronController
from yun.controllers.deploying import DeploymentController
from yun.controllers.live_config import ConfigController, config_reader
from yun.controllers.metering import MetricsSampler
from yun.controllers.promoting import PromotionController
from yun.controllers.provisioning import ServiceInstanceController
from yun.controllers.pruning import EventPruner, LogPruner
from yun.controllers.releasing import ReleaseCommands, ReleasePhase, default_stack_root
from yun.controllers.routing import RouteController
from yun.controllers.runtime.managing import Manager
from yun.controllers.scheduling import InstanceController, InstanceReporter
from yun.controllers.tasks import TaskController
from yun.controllers.usage import UsageRecorder
from yun.controllers.webhooks import WebhookController
from yun.discovery import DnsServer, Names, host_resolvers
from yun.jwks import JwksCache
from yun.kube import DRIVER as KUBE_DRIVER
from yun.liveconfig import ConfigWatchServer
from yun.logstore import LogStore
from yun.metrics.access import AccessStats
from yun.metrics.hub import MetricsHub, metrics_credential
from yun.metrics.store import MetricsStore
from yun.registry import RegistryError, RegistryServer
from yun.router import AccessLogReceiver, AppLines, HAProxy, RouterConfig
from yun.server.activator import Activator
from yun.server.drains import SyslogDrains
from yun.server.drivers import (
    dns_reach,
    make_driver,
    runtimes_missing,
    service_reach,
    staging_sandbox,
    userlands,
)
from yun.server.images import DropletExporter, platform_registry
from yun.server.listening import (
    BrokerListener,
    QuietServer,
    TlsError,
    api_config,
    check_tls,
)
from yun.server.memory import MemoryTrimmer, one_heap
from yun.server.metrics import Latencies, PlatformMetrics
from yun.server.pidfile import read_pid, write_pid
from yun.server.placement import Placement
from yun.server.recovering import recover_services
from yun.server.services import PlatformServices
from yun.settings import Settings
from yun.stacks.userlands import BuiltStacks
from yun.store.bootstrap import bootstrap
from yun.store.sealing import KEY_FILE
from yun.store.session import Store
from yun.tls import ensure_ca
from yun.ui import assets as ui_assets

log = logging.getLogger("yun.server")
ROUTE_SERVICE_KEY = "route-services.key"


def route_service_key(path: Path) -> str:
    """The key the router signs requests to route services with: made once, kept in `path`."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = base64.b64encode(os.urandom(32)).decode()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


def store_access_lines(
    logs: LogStore,
    by_app: AppLines,
    latencies: Latencies | None = None,
    access: AccessStats | None = None,
) -> None:
    """Router lines into their apps' logs, one write per app per chunk, the watched apps'
    response times to the autoscaler, and every app's requests to the metrics."""
    for app_guid, lines in by_app.items():
        logs.append_lines(app_guid, lines)
        if latencies is not None:
            latencies.record(app_guid, lines)
        if access is not None:
            access.record(app_guid, lines)


class AlreadyRunning(Exception):
    pass


class MissingTool(Exception):
    pass


def _check_free(host: str, port: int) -> None:
    """Stop before starting anything when the API's address is taken."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise MissingTool(
                f"the API address {host}:{port} is in use ({exc.strerror}): another yun server,"
                " or set YUN_API_PORT"
            ) from exc


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pidfile = settings.home / "server.pid"
        self._manager: Manager | None = None
        self._agent: Agent | None = None
        self._access: AccessLogReceiver | None = None
        self._registry: RegistryServer | None = None
        self._activator: Activator | None = None
        self._services: PlatformServices | None = None
        self._drains: SyslogDrains | None = None
        self._broker_listener: BrokerListener | None = None
        self._tasks: TaskController | None = None
        self._placement: Placement | None = None
        self._dns: list[DnsServer] = []
        self._config_watch: list[ConfigWatchServer] = []

    def _prepare(self) -> ApiContext:
        s = self.settings
        one_heap()  # before any thread of the server starts (see yun.server.memory)
        if shutil.which(s.haproxy) is None and not Path(s.haproxy).is_file():
            raise MissingTool(
                f"yun server needs HAProxy as its router, and {s.haproxy!r} was not found; "
                "install it with `apt-get install haproxy` (as root) or set YUN_HAPROXY"
            )
        _check_free(s.api_host, s.api_port)
        try:
            check_tls(s)
        except TlsError as exc:
            raise MissingTool(str(exc)) from exc
        for path in (s.home, s.blobs_dir, s.logs_dir, s.instances_dir, s.router_dir, s.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
        other = read_pid(self.pidfile)
        if other is not None:
            raise AlreadyRunning(f"yun server is already running for {s.home} (pid {other})")
        write_pid(self.pidfile)
        if absent := [name for name in ui_assets.FILES if ui_assets.find(name) is None]:
            log.warning(
                "the dashboard's charts and /docs miss %s: run `python -m yun.ui.assets` "
                "(make up does)",
                ", ".join(absent),
            )
        store = Store(s.db_url, key_file=s.home / KEY_FILE)
        store.migrate()
        defaults = bootstrap(
            store,
            home=s.home,
            domain=s.domain,
            admin_password=s.admin_password,
            internal_domain=s.internal_domain,
        )
        blobs = BlobStore(s.blobs_dir)
        logs = LogStore(s.logs_dir, max_bytes=s.log_max_mb << 20, max_age=s.log_days * 86400.0)

        def wake(key: str) -> None:
            if self._manager is not None:
                self._manager.wake(key)

        router_config = RouterConfig(
            route_service_key=route_service_key(s.router_dir / ROUTE_SERVICE_KEY),
            bind=s.router_bind,
            port=s.router_port,
            run_dir=s.router_dir,
            access_log=True,
            https_port=s.router_https_port,
            max_header_bytes=s.router_max_header_kb * 1024 if s.router_max_header_kb else None,
        )
        certificates = RouterCertificates(store=store, tls_dir=s.tls_dir, domain=s.domain)
        haproxy = HAProxy(router_config, binary=s.haproxy)
        metrics = MetricsHub(
            MetricsStore(s.home / "metrics", keep_days=s.metrics_days),
            credential=metrics_credential(s.home, s.metrics_token),
        )
        latencies = Latencies()
        on_lines = functools.partial(
            store_access_lines, logs, latencies=latencies, access=metrics.access
        )
        self._access = AccessLogReceiver(haproxy.stats_socket, on_lines)
        self._activator = Activator(store=store, wake=wake, router_port=s.router_port)
        driver = make_driver(s)
        reporter = InstanceReporter(store=store, logs=logs, wake=wake, driver=driver.name)
        self._agent = Agent(
            root=s.instances_dir,
            driver=driver,
            listener=reporter,
            timing=s.timing,
            observe_pass=metrics.instruments.agent_pass_seconds.observe,
            identities=Identities(ensure_ca(s.tls_dir)),  # CF_INSTANCE_CERT, CF_INSTANCE_KEY
            config_of=config_reader(store),  # YUN_CONFIG_FILE, and env at start
        )
        cluster_reporter = InstanceReporter(store=store, logs=logs, wake=wake, driver=KUBE_DRIVER)
        self._placement = Placement(
            store=store,
            local=self._agent,
            listener=cluster_reporter,
            registry_url=lambda: self._registry.url if self._registry is not None else None,
            rollout=cluster_reporter.on_rollout,
            stack=lambda spec: spec.stack_root or default_stack_root(s),
            scaled=cluster_reporter.on_scaled,
        )
        self._services = PlatformServices(s, reach=service_reach(driver))
        if s.tls_cert is not None:  # the controllers reach the brokers on loopback
            self._broker_listener = BrokerListener()
        self._services.register(store, self._broker_listener.url if self._broker_listener else None)
        if recovered := recover_services(store, self._services.broker.operations, blobs):
            log.info("brought back from the platform backup: %s", ", ".join(recovered))
        self._drains = SyslogDrains(store=store, logs=logs)
        staging = staging_sandbox(s, driver)
        self._userlands = userlands(s, staging)
        release_phase = ReleasePhase(settings=s, blobs=blobs, runner=self._agent)
        builds = BuildController(
            store=store,
            blobs=blobs,
            logs=logs,
            work_root=s.home / "staging",
            cache_root=s.cache_dir,
            images_root=s.images_dir,
            wake=wake,
            detect_order=s.buildpack_order,
            sandbox=staging,
            keep_revisions=s.revisions_kept,
            keep_droplets=s.droplets_kept,
            userlands=self._userlands,
            release_phase=release_phase,
            keep_staged=self._agent.keep_staged,
            observe=lambda seconds, state: metrics.instruments.staging_seconds.labels(
                state.lower()
            ).observe(seconds),
        )
        sampler = MetricsSampler(
            store=store,
            metrics=metrics.store,
            agent=self._agent,
            access=metrics.access,
            backends=haproxy.backend_stats,
            service_usage=self._services.usage,
            interval=float(s.metrics_interval),
        )
        metrics.latest = lambda: list(sampler.latest.values())
        access = self._access
        tasks = TaskController(store=store, blobs=blobs, logs=logs, settings=s, runner=self._agent)
        self._tasks = tasks

        def reloaded() -> None:
            access.reconnect()
            metrics.instruments.router_reloads.inc()

        self._manager = Manager(
            [
                builds,
                InstanceController(
                    store=store, blobs=blobs, settings=s, agent=self._placement, wake=wake
                ),
                DeploymentController(
                    store=store,
                    wake=wake,
                    responses=haproxy.response_counts,
                    release_commands=ReleaseCommands(
                        store=store, logs=logs, phase=release_phase, wake=wake
                    ),
                ),
                AutoscaleController(
                    store=store,
                    metrics=PlatformMetrics(
                        haproxy=haproxy, agent=self._agent, latencies=latencies
                    ),
                    wake=wake,
                ),
                RouteController(
                    store=store,
                    haproxy=haproxy,
                    certificates=certificates.current if s.router_https_port else None,
                    on_reload=reloaded,
                    activator=self._activator.address,
                    names=self._tell_names,
                    policies=self._tell_policies,
                    jwks=JwksCache(changed=lambda: wake("routes")),
                ),
                ServiceInstanceController(
                    store=store,
                    wake=wake,
                    forget_blobs=blobs.delete_many,
                ),
                BindingController(store=store, wake=wake),
                ConfigController(
                    store=store, refresh=self._agent.refresh_config, changed=self._config_changed
                ),
                tasks,
                CronController(store=store, wake=wake),
                WebhookController(store=store),
                UsageRecorder(store=store),
                PromotionController(
                    store=store,
                    blobs=blobs,
                    logs=logs,
                    settings=s,
                    runner=self._agent,
                    wake=wake,
                ),
                BackupController(store=store, blobs=blobs, work_dir=s.home / "backups-work"),
                EventPruner(store=store, max_days=s.events_days, max_count=s.events_max),
                LogPruner(logs=logs),
                sampler,
                MemoryTrimmer(),
                AcmeController(
                    store=store, wake=wake, router_url=s.router_url, ca_file=s.acme_ca_file
                ),
            ],
            timing=s.timing,
            workers=4,
            observe=metrics.instruments.observe_reconcile,
            changes=lambda: store.writes,
            resync_keys=(
                "deployments",
                "instances",
                "routes",
                "autoscale",
                "services",
                "bindings",
                "backups",
                "acme",
                "tasks",
                "config",
            ),
        )
        for key in builds.pending():
            self._manager.wake(key)
        self._manager.wake("events")  # then every ten minutes
        self._manager.wake("logs")  # the same
        self._manager.wake("metrics")  # then every YUN_METRICS_INTERVAL
        self._manager.wake("tasks")  # fails the tasks a killed server left RUNNING
        self._manager.wake("cron")  # then when the next schedule is due (every 30 s at most)
        self._manager.wake("webhooks")  # then every 2 s
        self._manager.wake("promotions")  # fails those a stopped server was testing
        self._manager.wake("usage")  # then every minute
        self._manager.wake("memory")  # then every 10 s
        metrics.instruments.queue_depths = self._manager.depths
        self.store = store
        self._registry = platform_registry(s)
        if self._registry is not None:
            try:
                self._registry.start()  # or adopt the one a previous server left running
            except RegistryError as exc:
                log.warning("no platform registry, droplet export is off: %s", exc)
                self._registry = None
        exporter = (
            DropletExporter(store=store, blobs=blobs, registry=self._registry)
            if self._registry is not None
            else None
        )
        return ApiContext(
            settings=s,
            store=store,
            blobs=blobs,
            logs=logs,
            defaults=defaults,
            wake=wake,
            usage=self._agent.usage,
            driver=driver.name,
            runtimes=runtimes_missing(driver),
            export_droplet=exporter,
            stacks=self._userlands.store if isinstance(self._userlands, BuiltStacks) else None,
            metrics=metrics,
            key_counts=haproxy.key_counts,
        )

    def run(self) -> None:
        """Run in the foreground until SIGTERM/SIGINT."""
        ctx = self._prepare()
        assert self._agent is not None and self._manager is not None and self._access is not None
        try:
            self._start_dns()
            self._start_config_watch()
            self._access.start()
            assert self._activator is not None
            self._activator.start()
            self._agent.start()
            assert self._placement is not None
            self._placement.start()
            self._manager.start()
            assert self._services is not None and self._drains is not None
            self._services.start()
            self._drains.start()
            api = create_app(ctx)
            api.include_router(self._services.broker.router)  # the built-in brokers' OSB API
            if self._broker_listener is not None:
                self._broker_listener.start(self._services.broker.router)
            server = QuietServer(api_config(api, self.settings))
            log.info("yun server listening on %s", self.settings.api_url)
            server.run()
        finally:
            self._shutdown()

    def _start_dns(self) -> None:
        """The internal DNS: on 127.0.0.1 at YUN_DNS_PORT when set, and on port 53 of the
        containers' bridge, which their resolv.conf then names. Where port 53 is taken there (a
        resolver of the host's listening on every address), containers keep the host's
        resolv.conf and cannot resolve internal names; the log says so."""
        s = self.settings
        if s.dns_port:
            server = DnsServer(bind="127.0.0.1", port=s.dns_port, upstream=host_resolvers())
            try:
                server.start()
            except OSError as exc:
                raise MissingTool(
                    f"the internal DNS cannot listen on 127.0.0.1:{s.dns_port} ({exc.strerror}):"
                    " another yun server, or set YUN_DNS_PORT (0: none on loopback)"
                ) from exc
            self._dns.append(server)
        assert self._agent is not None
        driver = self._agent.driver
        gateway = dns_reach(driver)
        if gateway is None or not isinstance(driver, RuncDriver):
            return
        bridged = DnsServer(bind=gateway, port=53, upstream=host_resolvers())
        try:
            bridged.start()
        except OSError as exc:
            log.warning(
                "internal DNS not served to containers: %s:53 is taken (%s); instances use the"
                " host's resolv.conf and cannot resolve internal names (apps.internal)",
                gateway,
                exc.strerror,
            )
            return
        self._dns.append(bridged)
        driver.nameservers = (gateway,)

    def _start_config_watch(self) -> None:
        """Live configuration's watch endpoint: on 127.0.0.1 (host processes) and on the
        containers' bridge address, which instances are told as `YUN_CONFIG_URL`."""
        assert self._agent is not None
        s, driver = self.settings, self._agent.driver
        gateway = dns_reach(driver)
        config_of = config_reader(self.store)
        for bind in ("127.0.0.1", *([gateway] if gateway else [])):
            server = ConfigWatchServer(
                bind=bind, port=s.config_port, ca=ensure_ca(s.tls_dir), config_of=config_of
            )
            try:
                server.start()
            except OSError as exc:
                raise MissingTool(
                    f"live configuration cannot listen on {bind}:{s.config_port}"
                    f" ({exc.strerror}): another yun server, or set YUN_CONFIG_PORT"
                ) from exc
            self._config_watch.append(server)
        self._agent.config_url = self._config_watch[-1].url

    def _config_changed(self, app_guids: Iterable[str]) -> None:
        apps = list(app_guids)
        for server in self._config_watch:
            server.changed(apps)

    def _tell_names(self, zones: Sequence[str], names: Names) -> None:
        for server in self._dns:
            server.update(zones, names)

    def _tell_policies(self, wanted: PolicyTable) -> None:
        """Network policies and bound services to the containers' bridge (nftables); where
        instances have no network of their own (host processes), there is nothing to enforce."""
        driver = self._agent.driver if self._agent is not None else None
        if isinstance(driver, RuncDriver) and isinstance(driver.network, CniNetwork):
            try:
                driver.network.apply_policies(wanted)
            except NetworkError as exc:  # tried again on the route controller's next pass
                log.error("network policies not applied: %s", exc)

    def _shutdown(self) -> None:
        stopper = threading.Thread(target=self._stop_parts, daemon=True)
        stopper.start()
        stopper.join(30)
        with contextlib.suppress(OSError, ValueError):
            if int(self.pidfile.read_text().strip()) == os.getpid():
                self.pidfile.unlink()

    def _stop_parts(self) -> None:
        if self._manager is not None:
            self._manager.stop()
        if self._tasks is not None:
            self._tasks.stop()
        if self._placement is not None:
            self._placement.stop()  # what runs on clusters keeps running there
        if self._agent is not None:
            self._agent.stop(stop_instances=False)
        if self._access is not None:
            self._access.stop()
        if self._activator is not None:
            self._activator.stop()
        if self._drains is not None:
            self._drains.stop()
        if self._services is not None:
            self._services.stop()
        for server in self._dns:
            server.stop()
        for watch in self._config_watch:
            watch.stop()
        if self._broker_listener is not None:
            self._broker_listener.stop()
        if hasattr(self, "store"):
            self.store.close()
