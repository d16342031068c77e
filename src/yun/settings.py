"""Every setting of the embedded platform in one place, read from the environment.

Components receive a `Settings` instance rather than reading `os.environ` themselves, so that tests
can run several servers side by side with their own homes and ports.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting the environment gives that cannot be used; the message names the variable."""


def _tls(env: dict[str, str]) -> tuple[Path | None, Path | None]:
    """YUN_TLS_CERT and YUN_TLS_KEY: both (the API speaks HTTPS) or neither."""
    cert, key = env.get("YUN_TLS_CERT", "").strip(), env.get("YUN_TLS_KEY", "").strip()
    if bool(cert) != bool(key):
        given, missing = (
            ("YUN_TLS_CERT", "YUN_TLS_KEY") if cert else ("YUN_TLS_KEY", "YUN_TLS_CERT")
        )
        raise SettingsError(f"{given} is set but {missing} is not: give both, or neither")
    return (Path(cert).absolute() if cert else None, Path(key).absolute() if key else None)


def _number(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingsError(f"{name}={text!r}: give a whole number from {low} to {high}")
    return int(text)


SYSTEM_HOME = Path("/var/lib/yun")  # root's: a system service's data, reachable by the
# service users (postgres, redis) without opening up root's home


def _default_home() -> Path:
    """`$XDG_DATA_HOME/yun` (~/.local/share/yun) for a user; `/var/lib/yun` for root, unless
    root's home already holds an installation from before, which stays where it is."""
    explicit = os.environ.get("XDG_DATA_HOME")
    user_home = Path(explicit or Path.home() / ".local" / "share") / "yun"
    if os.geteuid() != 0 or explicit:
        return user_home
    if (user_home / "yun.db").exists() and not SYSTEM_HOME.exists():
        return user_home
    return SYSTEM_HOME


def _default_config_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "yun"


def _sbin_program(name: str) -> str:
    """`name` as found on PATH, else in /usr/sbin or /sbin: Debian installs daemons there, and
    a user who is not root does not have those on PATH."""
    if shutil.which(name):
        return name
    for folder in ("/usr/sbin", "/sbin"):
        if os.access(f"{folder}/{name}", os.X_OK):
            return f"{folder}/{name}"
    return name


def _port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


@dataclass(frozen=True)
class Timing:
    """Backoff and timing constants (Cloud Foundry's numbers), written out once."""

    immediate_restarts: int = 3
    first_backoff: float = 30.0
    max_backoff: float = 16 * 60.0
    crash_reset_after: float = 5 * 60.0
    health_timeout: float = 60.0
    http_check_timeout: float = 1.0
    check_interval: float = 0.5
    starting_check_interval: float = 0.05  # while an instance starts: it serves sooner
    liveness_interval: float = 5.0
    # Between passes of an agent whose instances' exits wake it (the process driver's pidfds):
    # what is left to do then are the health checks, every `liveness_interval`.
    idle_check_interval: float = 1.0
    stop_grace: float = 10.0
    drain: float = 2.0  # an instance the router stopped sending to runs on this long, then stops
    reconcile_errors: tuple[float, ...] = (0.2, 0.5, 1, 2, 3, 5, 8, 13)
    resync_every: float = 5.0  # controllers look at everything again when the store changed
    resync_quiet_every: float = 60.0  # … and this often when it did not


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    api_host: str = "127.0.0.1"
    api_port: int = 7070
    router_bind: str = "127.0.0.1"
    router_port: int = 8080
    router_https_port: int | None = 8443  # None (YUN_ROUTER_HTTPS_PORT=0): no HTTPS
    router_max_header_kb: int | None = None  # None: HAProxy's own limit (about 15 KiB)
    domain: str = "apps.localhost"
    tcp_ports: tuple[int, int] = (40000, 40999)
    service_ports: tuple[int, int] = (41000, 41999)  # the built-in brokers' servers
    database_url: str = ""
    admin_password: str = ""
    haproxy: str = "haproxy"
    buildpack_order: tuple[str, ...] = ("python", "nodejs", "java", "go", "static", "binary")
    driver: str = "auto"  # runc containers where root and runc allow, else host processes
    subnet: str = "10.244.0.0/16"
    bridge: str = "yun0"
    registry_port: int = 5005  # the platform registry on 127.0.0.1; 0 turns it off
    internal_domain: str = "apps.internal"  # made at the first start: app-to-app names
    dns_port: int = 0  # the internal DNS also on 127.0.0.1 at this port (UDP and TCP); 0: not
    config_port: int = 7480  # live configuration's watch endpoint (HTTPS), bridge and loopback
    revisions_kept: int = 100  # per app; older revisions are forgotten
    droplets_kept: int = 5  # per app: the droplets of its newest revisions stay for rollback
    stacks_root: Path | None = None  # built stacks; None: $YUN_HOME/stacks
    default_stack: str = "trixie"  # Debian's stable suite: Python 3.13, Node 20
    stack_mirror: str = "http://deb.debian.org/debian"
    access_token_seconds: int = 900  # how long an access token lasts; the CLI refreshes it
    events_days: int = 90  # audit events older than this are deleted
    events_max: int = 100_000  # and beyond this many, the oldest
    log_max_mb: int = 32  # per app: its log's lines beyond this size go, oldest first
    log_days: int = 7  # and lines older than this
    metrics_interval: int = 10  # seconds between metrics samples
    metrics_days: int = (
        7  # metrics kept: the last 24 hours at full resolution, then a point a minute
    )
    metrics_token: str = ""  # the metrics-only credential; "": $YUN_HOME/metrics-token, made once
    acme_directory: str = LETS_ENCRYPT  # where `yun set-certificate --acme` orders by default
    acme_ca_file: Path | None = None  # CA bundle trusted for the ACME directory (a private CA)
    tls_cert: Path | None = None  # the API's certificate (chain), PEM: HTTPS instead of HTTP
    tls_key: Path | None = None  # its private key
    templates_root: Path | None = None  # app templates of this server; None: $YUN_HOME/templates
    timing: Timing = field(default_factory=Timing)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        home = Path(e["YUN_HOME"]) if e.get("YUN_HOME") else _default_home()
        return cls(
            home=home.absolute(),
            api_host=e.get("YUN_API_HOST", "127.0.0.1"),
            api_port=_number(e, "YUN_API_PORT", 7070, 1, 65535),
            router_bind=e.get("YUN_ROUTER_BIND", "127.0.0.1"),
            router_port=_number(e, "YUN_ROUTER_PORT", 8080, 1, 65535),
            router_https_port=_number(e, "YUN_ROUTER_HTTPS_PORT", 8443, 0, 65535) or None,
            router_max_header_kb=_number(e, "YUN_ROUTER_MAX_HEADER_KB", 0, 0, 1024) or None,
            domain=e.get("YUN_DOMAIN", "apps.localhost"),
            tcp_ports=_port_range(e.get("YUN_TCP_PORTS", "40000-40999")),
            service_ports=_port_range(e.get("YUN_SERVICE_PORTS", "41000-41999")),
            database_url=e.get("YUN_DATABASE_URL", ""),
            admin_password=e.get("YUN_ADMIN_PASSWORD", ""),
            haproxy=e.get("YUN_HAPROXY") or _sbin_program("haproxy"),
            driver=e.get("YUN_DRIVER", "auto"),
            subnet=e.get("YUN_SUBNET", "10.244.0.0/16"),
            bridge=e.get("YUN_BRIDGE", "yun0"),
            registry_port=int(e.get("YUN_REGISTRY_PORT", "5005")),
            internal_domain=e.get("YUN_INTERNAL_DOMAIN", "apps.internal").strip().lower(),
            dns_port=_number(e, "YUN_DNS_PORT", 0, 0, 65535),
            config_port=_number(e, "YUN_CONFIG_PORT", 7480, 1, 65535),
            revisions_kept=max(1, int(e.get("YUN_REVISIONS_KEPT", "100"))),
            droplets_kept=max(1, int(e.get("YUN_DROPLETS_KEPT", "5"))),
            stacks_root=Path(e["YUN_STACKS_DIR"]).absolute() if e.get("YUN_STACKS_DIR") else None,
            default_stack=e.get("YUN_STACK", "trixie"),
            stack_mirror=e.get("YUN_STACK_MIRROR", "http://deb.debian.org/debian"),
            access_token_seconds=_number(e, "YUN_ACCESS_TOKEN_SECONDS", 900, 10, 86400),
            events_days=_number(e, "YUN_EVENTS_DAYS", 90, 1, 36500),
            events_max=_number(e, "YUN_EVENTS_MAX", 100_000, 100, 100_000_000),
            log_max_mb=_number(e, "YUN_LOG_MAX_MB", 32, 1, 1_000_000),
            log_days=_number(e, "YUN_LOG_DAYS", 7, 1, 36500),
            metrics_interval=_number(e, "YUN_METRICS_INTERVAL", 10, 1, 3600),
            metrics_days=_number(e, "YUN_METRICS_DAYS", 7, 2, 3650),
            metrics_token=e.get("YUN_METRICS_TOKEN", "").strip(),
            acme_directory=e.get("YUN_ACME_DIRECTORY") or LETS_ENCRYPT,
            acme_ca_file=Path(e["YUN_ACME_CA_FILE"]) if e.get("YUN_ACME_CA_FILE") else None,
            tls_cert=_tls(e)[0],
            tls_key=_tls(e)[1],
            templates_root=(
                Path(e["YUN_TEMPLATES_DIR"]).absolute() if e.get("YUN_TEMPLATES_DIR") else None
            ),
            buildpack_order=tuple(
                name.strip()
                for name in e.get("YUN_BUILDPACK_ORDER", ",".join(cls.buildpack_order)).split(",")
                if name.strip()
            ),
        )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'yun.db'}"

    @property
    def templates_dir(self) -> Path:
        """Where this server's own app templates are (besides the bundled ones)."""
        return self.templates_root or self.home / "templates"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def instances_dir(self) -> Path:
        return self.home / "instances"

    @property
    def router_dir(self) -> Path:
        return self.home / "router"

    @property
    def tls_dir(self) -> Path:
        """The platform CA and the router's own certificate (keys: this user's alone)."""
        return self.home / "tls"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def stacks_dir(self) -> Path:
        return self.stacks_root or self.home / "stacks"

    @property
    def images_dir(self) -> Path:
        return self.home / "images"

    @property
    def registry_dir(self) -> Path:
        return self.home / "registry"

    @property
    def services_dir(self) -> Path:
        return self.home / "services"

    @property
    def router_url(self) -> str:
        """The router's HTTP listener as this machine reaches it."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(
            self.router_bind, self.router_bind
        )
        return (
            f"http://[{host}]:{self.router_port}"
            if ":" in host
            else f"http://{host}:{self.router_port}"
        )

    @property
    def api_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.api_host}:{self.api_port}"


def config_dir() -> Path:
    """Where the CLI keeps its target and token (`YUN_CONFIG_DIR`, else ~/.config/yun)."""
    value = os.environ.get("YUN_CONFIG_DIR")
    return Path(value) if value else _default_config_dir()
