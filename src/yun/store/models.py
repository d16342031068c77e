"""The data model: what users asked for (desired state) and what the agent saw (actual state).

Org → Space → App → Process → Instance; Package → Build → Droplet → Revision; Route → RouteMapping;
TcpRoute; Quota (of orgs and spaces); ServiceBroker → ServiceOffering → ServicePlan;
ServiceInstance → ServiceBinding (apps and keys), ServiceBackup; App → Task, Schedule,
BuildTrigger, Promotion; Space → Webhook → WebhookDelivery; Org → Pipeline; UsageEvent; User,
Token, RoleAssignment, Event. Every row has a guid, created/updated times and labels.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from yun.store.sealing import SealedJSON, SealedText


def new_guid() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Resource(Base):
    __abstract__ = True
    guid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_guid)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)
    updated_at: Mapped[float] = mapped_column(Float, default=time.time, onupdate=time.time)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class User(Resource):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(default=False)


class Token(Resource):
    """A bearer token: `access` (minutes, sent with every call) or `refresh` (days, traded for
    a new pair); the two of one login share `session_guid` and are revoked together."""

    __tablename__ = "tokens"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_guid: Mapped[str] = mapped_column(ForeignKey("users.guid", ondelete="CASCADE"))
    expires_at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16), default="access")
    session_guid: Mapped[str] = mapped_column(String(36), default="", index=True)


class Quota(Resource):
    """Limits an org or a space is held to (None: no limit), Cloud Foundry's quota plans:
    memory of the started apps' instances together, memory of one instance, started instances,
    routes, managed service instances, TCP router ports."""

    __tablename__ = "quotas"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    memory_mb: Mapped[int | None] = mapped_column(Integer, default=None)
    instance_memory_mb: Mapped[int | None] = mapped_column(Integer, default=None)
    instances: Mapped[int | None] = mapped_column(Integer, default=None)
    routes: Mapped[int | None] = mapped_column(Integer, default=None)
    services: Mapped[int | None] = mapped_column(Integer, default=None)
    tcp_ports: Mapped[int | None] = mapped_column(Integer, default=None)


class Org(Resource):
    __tablename__ = "orgs"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    quota_guid: Mapped[str | None] = mapped_column(
        ForeignKey("quotas.guid", ondelete="SET NULL"), default=None
    )


class Cluster(Resource):
    """A Kubernetes cluster spaces can be placed on (`yun create-cluster`): its kubeconfig
    (sealed, it holds credentials), the context to use, the registry its images go to, and how
    it takes traffic in (an Ingress class, or a Gateway as "NAMESPACE/NAME")."""

    __tablename__ = "clusters"
    name: Mapped[str] = mapped_column(String(63), unique=True)
    kubeconfig: Mapped[str] = mapped_column(SealedText)
    context: Mapped[str] = mapped_column(String(255), default="")
    server: Mapped[str] = mapped_column(String(512), default="")
    image_registry: Mapped[str] = mapped_column(String(512), default="")
    ingress_class: Mapped[str] = mapped_column(String(253), default="")
    gateway: Mapped[str] = mapped_column(String(253), default="")
    reachable: Mapped[bool | None] = mapped_column(Boolean, default=None)
    """Whether it answered the platform last time it asked (None: not asked yet)."""
    reach_reason: Mapped[str] = mapped_column(Text, default="")
    reach_since: Mapped[float | None] = mapped_column(Float, default=None)


class Space(Resource):
    __tablename__ = "spaces"
    __table_args__ = (UniqueConstraint("org_guid", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    org_guid: Mapped[str] = mapped_column(ForeignKey("orgs.guid", ondelete="CASCADE"))
    quota_guid: Mapped[str | None] = mapped_column(
        ForeignKey("quotas.guid", ondelete="SET NULL"), default=None
    )
    cluster_guid: Mapped[str | None] = mapped_column(
        ForeignKey("clusters.guid", ondelete="RESTRICT"), default=None
    )
    """Where its apps run: None for this machine (the node agent), else a Kubernetes cluster."""
    runtime: Mapped[str] = mapped_column(String(16), default="")
    """The container runtime of its apps' instances ("runc", "gvisor"); "": the platform's
    default (runc). An app's manifest may ask for a stronger one, never a weaker one."""


class RoleAssignment(Resource):
    """One of a user's roles, Cloud Foundry's: in an org (`space_guid` empty: OrgManager,
    OrgAuditor, OrgUser) or in one of its spaces (SpaceManager, SpaceDeveloper, SpaceAuditor,
    SpaceSupporter). Admin is the user's own flag."""

    __tablename__ = "role_assignments"
    user_guid: Mapped[str] = mapped_column(ForeignKey("users.guid", ondelete="CASCADE"), index=True)
    org_guid: Mapped[str] = mapped_column(ForeignKey("orgs.guid", ondelete="CASCADE"))
    space_guid: Mapped[str | None] = mapped_column(
        ForeignKey("spaces.guid", ondelete="CASCADE"), default=None
    )
    role: Mapped[str] = mapped_column(String(32))


class Domain(Resource):
    """A domain routes are made under: shared by every org (`org_guid` None) or private to one
    org; `internal` ones are for app-to-app names, not served by the router."""

    __tablename__ = "domains"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    org_guid: Mapped[str | None] = mapped_column(
        ForeignKey("orgs.guid", ondelete="CASCADE"), default=None
    )
    internal: Mapped[bool] = mapped_column(default=False)


class App(Resource):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("space_guid", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="STOPPED")
    env: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    revision_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    """The revision that serves (during a deployment: the one it moves away from)."""
    droplet_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    """The droplet the next restart runs: the last staged one, or a rolled-back revision's."""
    package_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    autoscale: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """`yun autoscale`'s policy: {"min", "max", "metric", "target"}; {} when off."""


class Process(Resource):
    __tablename__ = "processes"
    __table_args__ = (UniqueConstraint("app_guid", "type"),)
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    command: Mapped[str | None] = mapped_column(Text, default=None)
    instances: Mapped[int] = mapped_column(Integer, default=1)
    memory_mb: Mapped[int] = mapped_column(Integer, default=256)
    disk_mb: Mapped[int] = mapped_column(Integer, default=1024)
    health_check_type: Mapped[str] = mapped_column(String(16), default="port")
    health_check_endpoint: Mapped[str] = mapped_column(String(255), default="/")
    health_check_timeout: Mapped[int | None] = mapped_column(Integer, default=None)
    invocation_timeout: Mapped[int | None] = mapped_column(Integer, default=None)


class Instance(Resource):
    """Actual state of one slot (process, revision version, index) as the agent last reported
    it. During a deployment a process runs instances of two versions side by side."""

    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("process_guid", "version", "index"),)
    process_guid: Mapped[str] = mapped_column(ForeignKey("processes.guid", ondelete="CASCADE"))
    app_guid: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=0)
    index: Mapped[int] = mapped_column(Integer)
    instance_guid: Mapped[str] = mapped_column(String(36), default="")
    state: Mapped[str] = mapped_column(String(16), default="DOWN")
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    port: Mapped[int | None] = mapped_column(Integer, default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    since: Mapped[float] = mapped_column(Float, default=time.time)
    crash_count: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    driver: Mapped[str] = mapped_column(String(16), default="process")
    routed: Mapped[bool] = mapped_column(default=False)
    """True once the router's running configuration sends traffic to this instance."""
    draining_since: Mapped[float | None] = mapped_column(Float, default=None)
    """Set when the instance is no longer wanted: the router stops sending it requests, and
    only once it no longer does (and in-flight requests had time to finish) is it stopped."""
    ports: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Extra ports the instance listens on besides PORT, by name: {"my-port": 34567}."""


class Package(Resource):
    __tablename__ = "packages"
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="READY")
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="bits")  # or "docker"
    image: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)  # ref, credentials
    commit: Mapped[str] = mapped_column(String(64), default="")
    """The git commit the files came from (a `git push`); "" for an upload."""


class Build(Resource):
    __tablename__ = "builds"
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    package_guid: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), default="STAGING")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    droplet_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    start_after: Mapped[bool] = mapped_column(default=True)
    release: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """How the droplet reaches a running app: {"strategy": "rolling", "max_in_flight": 1}."""


class Droplet(Resource):
    __tablename__ = "droplets"
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    build_guid: Mapped[str] = mapped_column(String(36))
    blob: Mapped[str] = mapped_column(String(64))
    process_types: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    buildpacks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    detected: Mapped[str] = mapped_column(String(255), default="")
    image: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)  # see building
    stack: Mapped[str] = mapped_column(String(64), default="")
    """The stack it was staged on and runs on; "host" (or "" before stacks): the host's userland."""
    commit: Mapped[str] = mapped_column(String(64), default="")
    """Its package's git commit, if it was pushed with git."""


class Revision(Resource):
    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("app_guid", "version"),)
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    droplet_guid: Mapped[str] = mapped_column(String(36))
    env: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    commands: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    processes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Per process type, the limits this revision runs with: {"web": {"memory_mb", "disk_mb"}}."""
    services: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    """What the app's service bindings put in its environment when this revision was made
    (VCAP_SERVICES, DATABASE_URL, REDIS_URL): bindings take effect on the next restart."""
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    """The git commit its droplet was built from ("" when it was uploaded)."""


class Deployment(Resource):
    """Moving an app from one revision to another without downtime (see controllers/deploying).

    `progress` holds, per process type, how many instances of each side are wanted now:
    {"web": {"old": 3, "new": 1}}; the deployment controller moves it step by step.
    """

    __tablename__ = "deployments"
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"), index=True)
    strategy: Mapped[str] = mapped_column(String(16), default="rolling")
    state: Mapped[str] = mapped_column(String(16), default="DEPLOYING")
    from_revision_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    revision_guid: Mapped[str] = mapped_column(String(36))
    max_in_flight: Mapped[int] = mapped_column(Integer, default=1)
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Canary: the new revision's share of traffic at each pause, in percent (e.g. [10, 50])."""
    step: Mapped[int] = mapped_column(Integer, default=0)
    """Canary: the index into `steps` now; len(steps) once continued past the last pause."""
    weight: Mapped[int | None] = mapped_column(Integer, default=None)
    """Percent of the app's traffic the router sends the new side; None: all instances alike."""
    keep_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    keep_until: Mapped[float | None] = mapped_column(Float, default=None)
    """Blue-green: after the switch the old side stands by without traffic until then
    (`keep_seconds` after it), so a cancel is instant."""
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Route(Resource):
    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("host", "domain_guid", "path"),)
    host: Mapped[str] = mapped_column(String(255))
    domain_guid: Mapped[str] = mapped_column(ForeignKey("domains.guid", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(255), default="")
    space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Traffic policy: loadbalancing, hash_header, sticky, timeout (see yun.router.Policy)."""
    route_service_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    """The user-provided service bound to it as its route service (`yun bind-route-service`),
    whose URL is then its `route_service` option; None: none bound."""


class ApiPlan(Resource):
    """What the API keys of a route on this plan may do: `rate_limit` requests per
    `rate_window` seconds, `quota` requests served per `quota_window` seconds (0: no limit)."""

    __tablename__ = "api_plans"
    __table_args__ = (UniqueConstraint("route_guid", "name"),)
    route_guid: Mapped[str] = mapped_column(ForeignKey("routes.guid", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    rate_limit: Mapped[int] = mapped_column(Integer, default=0)
    rate_window: Mapped[int] = mapped_column(Integer, default=1)
    quota: Mapped[int] = mapped_column(Integer, default=0)
    quota_window: Mapped[int] = mapped_column(Integer, default=86400)


class ApiKey(Resource):
    """A key a route's clients send (`X-Api-Key`), kept as its SHA-256 only: the key itself is
    shown once, when made. `prefix` (its first characters) tells keys apart in listings."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("route_guid", "name"),)
    route_guid: Mapped[str] = mapped_column(ForeignKey("routes.guid", ondelete="CASCADE"))
    plan_guid: Mapped[str | None] = mapped_column(
        ForeignKey("api_plans.guid", ondelete="RESTRICT"), default=None
    )
    name: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Certificate(Resource):
    """A certificate the router serves over HTTPS for the names it carries (SNI): uploaded by
    `yun set-certificate NAME`, or ordered by ACME. `bundle` is PEM: certificate, chain, key."""

    __tablename__ = "certificates"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    bundle: Mapped[str] = mapped_column(SealedText)
    not_after: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="upload")
    # Ordered by ACME (source "acme"): where from, and how the orders went. `bundle` is "" and
    # `not_after` 0 until the first certificate arrives.
    acme_directory: Mapped[str | None] = mapped_column(String(512), default=None)
    acme_email: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="issued")  # ordering | failed
    last_error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed orders in a row
    next_attempt_at: Mapped[float | None] = mapped_column(Float, default=None)
    renew_at: Mapped[float | None] = mapped_column(Float, default=None)


class AcmeAccount(Resource):
    """The account key Yun orders with at one ACME directory for one contact address."""

    __tablename__ = "acme_accounts"
    __table_args__ = (UniqueConstraint("directory", "email"),)
    directory: Mapped[str] = mapped_column(String(512))
    email: Mapped[str] = mapped_column(String(255), default="")
    key_pem: Mapped[str] = mapped_column(SealedText)


class AcmeChallenge(Resource):
    """An HTTP-01 challenge the router answers while an order is validated: a request for
    `/.well-known/acme-challenge/TOKEN` gets `key_authorization`."""

    __tablename__ = "acme_challenges"
    token: Mapped[str] = mapped_column(String(255), unique=True)
    key_authorization: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(255))


class RouteMapping(Resource):
    __tablename__ = "route_mappings"
    __table_args__ = (UniqueConstraint("route_guid", "app_guid", "process_type"),)
    route_guid: Mapped[str] = mapped_column(ForeignKey("routes.guid", ondelete="CASCADE"))
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    process_type: Mapped[str] = mapped_column(String(64), default="web")
    weight: Mapped[int | None] = mapped_column(Integer, default=None)


class NetworkPolicy(Resource):
    """Instances of the source app may open connections to the destination app's instances
    on `protocol` ports start_port-end_port (Cloud Foundry's network policy); without one,
    app-to-app traffic on the bridge is dropped."""

    __tablename__ = "network_policies"
    __table_args__ = (
        UniqueConstraint(
            "source_app_guid", "destination_app_guid", "protocol", "start_port", "end_port"
        ),
    )
    source_app_guid: Mapped[str] = mapped_column(
        ForeignKey("apps.guid", ondelete="CASCADE"), index=True
    )
    destination_app_guid: Mapped[str] = mapped_column(
        ForeignKey("apps.guid", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(8), default="tcp")
    start_port: Mapped[int] = mapped_column(Integer)
    end_port: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class SecurityGroup(Resource):
    """An application security group: where running instances may open connections beyond the
    bridge (`rules`, Cloud Foundry's JSON, see `yun.egress`). Bound to spaces, or to every
    space (`running_default`); a space with none bound reaches nothing outside."""

    __tablename__ = "security_groups"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    running_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class SecurityGroupSpace(Resource):
    """A security group bound to one space's running instances."""

    __tablename__ = "security_group_spaces"
    __table_args__ = (UniqueConstraint("security_group_guid", "space_guid"),)
    security_group_guid: Mapped[str] = mapped_column(
        ForeignKey("security_groups.guid", ondelete="CASCADE"), index=True
    )
    space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))


class ConfigVersion(Resource):
    """One version of an app's or a space's live configuration: all its values as they stood
    after the change (`action` set, unset or rollback, of `key`), sealed like env. An app's
    instances see its space's values overlaid with its own, without a restart."""

    __tablename__ = "config_versions"
    __table_args__ = (UniqueConstraint("scope_guid", "version"),)
    scope_guid: Mapped[str] = mapped_column(String(36), index=True)  # the app's or the space's
    app_guid: Mapped[str | None] = mapped_column(
        ForeignKey("apps.guid", ondelete="CASCADE"), default=None
    )
    space_guid: Mapped[str | None] = mapped_column(
        ForeignKey("spaces.guid", ondelete="CASCADE"), default=None
    )
    version: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    secret_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(16))
    keys: Mapped[list[Any]] = mapped_column(JSON, default=list)  # the keys it changed
    from_version: Mapped[int | None] = mapped_column(Integer, default=None)  # a rollback's
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Event(Resource):
    """Who did what to which resource, from where (client address, request id), and how it
    ended (`outcome`: success, failure, denied; "" for what the platform itself did)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_created_at", "created_at"),)
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(255), default="", index=True)
    actee_guid: Mapped[str] = mapped_column(String(36), index=True, default="")
    actee_type: Mapped[str] = mapped_column(String(32), default="app")
    actee_name: Mapped[str] = mapped_column(String(255), default="")
    space_guid: Mapped[str] = mapped_column(String(36), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="")


class TcpRoute(Resource):
    """A TCP port of the router (from `YUN_TCP_PORTS`) forwarded to one port of an app's
    instances: Stackato's harbor. `name` tells the app which port it is (`STACKATO_HARBOR`, or
    `STACKATO_HARBOR_<NAME>` when it has several)."""

    __tablename__ = "tcp_routes"
    __table_args__ = (UniqueConstraint("app_guid", "name"),)
    port: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(64))
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    process_type: Mapped[str] = mapped_column(String(64), default="web")
    space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))


class ServiceBroker(Resource):
    """An Open Service Broker the platform talks to; `builtin` ones are served by `yun server`."""

    __tablename__ = "service_brokers"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(255), default="")
    password: Mapped[str] = mapped_column(SealedText, default="")
    builtin: Mapped[bool] = mapped_column(default=False)


class ServiceOffering(Resource):
    """One service of a broker's catalog, as `/v2/catalog` last described it."""

    __tablename__ = "service_offerings"
    __table_args__ = (UniqueConstraint("broker_guid", "broker_id"),)
    broker_guid: Mapped[str] = mapped_column(ForeignKey("service_brokers.guid", ondelete="CASCADE"))
    broker_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    bindable: Mapped[bool] = mapped_column(default=True)
    plan_updateable: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    requires: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The rest of the catalog entry (metadata, instances_retrievable, bindings_retrievable…)."""


class ServicePlan(Resource):
    __tablename__ = "service_plans"
    __table_args__ = (UniqueConstraint("offering_guid", "broker_id"),)
    offering_guid: Mapped[str] = mapped_column(
        ForeignKey("service_offerings.guid", ondelete="CASCADE")
    )
    broker_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    free: Mapped[bool] = mapped_column(default=True)
    bindable: Mapped[bool | None] = mapped_column(default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """metadata, schemas, maximum_polling_duration, plan_updateable."""


class ServiceInstance(Resource):
    """A provisioned (`managed`) or `user-provided` service. `last_operation` is what the
    service controller does or did: {"type": "create"|"update"|"delete", "state": "initial"|
    "in progress"|"succeeded"|"failed", "description", "operation", "deadline", ...}."""

    __tablename__ = "service_instances"
    __table_args__ = (UniqueConstraint("space_guid", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="managed")
    plan_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    credentials: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    """User-provided services only; managed ones get theirs per binding from the broker."""
    syslog_drain_url: Mapped[str] = mapped_column(Text, default="")
    route_service_url: Mapped[str] = mapped_column(Text, default="")
    """User-provided services only: where routes bound to it send requests first (`-r`)."""
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dashboard_url: Mapped[str] = mapped_column(Text, default="")
    last_operation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pending: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """An update not yet accepted by the broker: {"plan_guid", "parameters"}."""
    backup_every: Mapped[float | None] = mapped_column(Float, default=None)
    """Seconds between scheduled backups (`yun service-backup NAME --every 1d`); None: off."""
    backups_kept: Mapped[int] = mapped_column(Integer, default=7)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class ServiceBinding(Resource):
    """Credentials of a service instance for an app (`type` app) or for a person (`key`)."""

    __tablename__ = "service_bindings"
    __table_args__ = (UniqueConstraint("service_instance_guid", "type", "name"),)
    service_instance_guid: Mapped[str] = mapped_column(
        ForeignKey("service_instances.guid", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(8), default="app")
    app_guid: Mapped[str | None] = mapped_column(
        ForeignKey("apps.guid", ondelete="CASCADE"), default=None
    )
    name: Mapped[str] = mapped_column(String(255))
    """The binding's name (VCAP_SERVICES' binding_name; the app's name when none was given),
    or the key's name."""
    binding_name: Mapped[str | None] = mapped_column(String(255), default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    credentials: Mapped[dict[str, Any]] = mapped_column(SealedJSON, default=dict)
    syslog_drain_url: Mapped[str] = mapped_column(Text, default="")
    last_operation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class ServiceBackup(Resource):
    """A dump of a service instance's data (pg_dump, Redis RDB), kept in the blobstore."""

    __tablename__ = "service_backups"
    service_instance_guid: Mapped[str] = mapped_column(
        ForeignKey("service_instances.guid", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    """PENDING → READY or FAILED; a restore sets `restoring` until it is done."""
    blob: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    format: Mapped[str] = mapped_column(String(32), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    restore: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The last restore from this backup: {"state", "error", "at"}."""
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Task(Resource):
    """A one-off process on an app's droplet, run to completion (Cloud Foundry's tasks, a
    Heroku one-off dyno): PENDING, RUNNING, CANCELING, then SUCCEEDED or FAILED. `sequence_id`
    numbers an app's tasks from 1 (what `yun tasks` shows and `terminate-task` takes)."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("app_guid", "sequence_id"),)
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    sequence_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(SealedText)
    state: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_mb: Mapped[int] = mapped_column(Integer)
    revision_guid: Mapped[str] = mapped_column(String(36))
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[float | None] = mapped_column(Float, default=None)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    schedule_guid: Mapped[str | None] = mapped_column(String(36), default=None, index=True)


class Schedule(Resource):
    """A cron job (Stackato's `cron:` manifest key, `yun schedule`): `command` runs as a task
    of the app at the times `expression` names (five fields, UTC). `origin` is "manifest" for
    the ones a push keeps in step with the manifest, "cli" for the ones `yun schedule` made."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("app_guid", "name"),)
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    expression: Mapped[str] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(SealedText)
    memory_mb: Mapped[int | None] = mapped_column(Integer, default=None)
    overlap: Mapped[bool] = mapped_column(default=False)
    origin: Mapped[str] = mapped_column(String(16), default="cli")
    next_run_at: Mapped[float] = mapped_column(Float)
    last_run_at: Mapped[float | None] = mapped_column(Float, default=None)
    last_outcome: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Webhook(Resource):
    """An outgoing webhook of a space: its apps' events of the chosen kinds (deploy, crash,
    scale, task) are POSTed to `url` as JSON, signed with HMAC-SHA256 of `secret`."""

    __tablename__ = "webhooks"
    space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(SealedText)
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class WebhookDelivery(Resource):
    """One event sent (or being sent) to one webhook: PENDING until the receiver answers 2xx
    (DELIVERED) or the retries run out (FAILED); each attempt's status is kept."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_guid", "event_guid"),)
    webhook_guid: Mapped[str] = mapped_column(
        ForeignKey("webhooks.guid", ondelete="CASCADE"), index=True
    )
    event_guid: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    attempts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[[when, status or None, error], ...], one per attempt."""
    next_attempt_at: Mapped[float] = mapped_column(Float, default=time.time)


class BuildTrigger(Resource):
    """An incoming webhook of an app: a POST to its secret URL (a forge's push webhook) builds
    and deploys `ref` of the git repository at `repo_url`."""

    __tablename__ = "build_triggers"
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    repo_url: Mapped[str] = mapped_column(Text)
    ref: Mapped[str] = mapped_column(String(255), default="main")
    secret: Mapped[str] = mapped_column(SealedText, default="")
    """When set, a call must carry X-Hub-Signature-256 (GitHub, Gitea) or X-Gitlab-Token."""
    last_outcome: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Pipeline(Resource):
    """An ordered list of an org's spaces that apps move through (dev → staging → prod), each
    move a promotion of the same droplet."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("org_guid", "name"),)
    org_guid: Mapped[str] = mapped_column(ForeignKey("orgs.guid", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    stages: Mapped[list[Any]] = mapped_column(JSON, default=list)  # space guids, in order
    created_by: Mapped[str] = mapped_column(String(255), default="")


class Promotion(Resource):
    """Moving the droplet of an app's current revision to the app of the same name in another
    space: PENDING, TESTING (its `test` command runs first, if asked), then PROMOTED or FAILED."""

    __tablename__ = "promotions"
    app_guid: Mapped[str] = mapped_column(ForeignKey("apps.guid", ondelete="CASCADE"), index=True)
    """The app promoted from."""
    revision_guid: Mapped[str] = mapped_column(String(36))
    to_space_guid: Mapped[str] = mapped_column(ForeignKey("spaces.guid", ondelete="CASCADE"))
    test: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    output: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    target_revision_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[str] = mapped_column(String(255), default="")


class UsageEvent(Resource):
    """What an app, a task or a service instance used from `created_at` on, until the next
    event of the same subject: Cloud Foundry's usage events, for `yun usage`. Names are kept
    so that usage of what was since deleted still adds up."""

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_subject", "subject_guid", "created_at"),)
    kind: Mapped[str] = mapped_column(String(16))  # app, task, service
    subject_guid: Mapped[str] = mapped_column(String(36))
    subject_name: Mapped[str] = mapped_column(String(255), default="")
    space_guid: Mapped[str] = mapped_column(String(36), default="", index=True)
    space_name: Mapped[str] = mapped_column(String(255), default="")
    org_guid: Mapped[str] = mapped_column(String(36), default="", index=True)
    org_name: Mapped[str] = mapped_column(String(255), default="")
    instances: Mapped[int] = mapped_column(Integer, default=0)
    """Running instances (tasks: 1 while running; services: 1 while they exist)."""
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    """Memory of all of them together."""
