"""Live configuration in the store: each change of an app's or a space's values is a new
`ConfigVersion` holding all of them, so history is a list of versions and a rollback writes
an old version's values as the newest one.

An app's effective configuration is its space's values overlaid with its own; its version
names both (`s3.a5`: the space's third, the app's fifth), so an instance can tell a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store.models import App, ConfigVersion


@dataclass(frozen=True)
class Scope:
    """Whose configuration: an app's (`app_guid`) or a space's."""

    guid: str
    app_guid: str | None = None
    space_guid: str | None = None

    @classmethod
    def of_app(cls, guid: str) -> Scope:
        return cls(guid, app_guid=guid)

    @classmethod
    def of_space(cls, guid: str) -> Scope:
        return cls(guid, space_guid=guid)


@dataclass(frozen=True)
class Effective:
    version: str
    values: dict[str, str]


def latest(session: Session, scope_guid: str) -> ConfigVersion | None:
    return session.scalars(
        select(ConfigVersion)
        .where(ConfigVersion.scope_guid == scope_guid)
        .order_by(ConfigVersion.version.desc())
        .limit(1)
    ).first()


def versions(session: Session, scope_guid: str) -> list[ConfigVersion]:
    return list(
        session.scalars(
            select(ConfigVersion)
            .where(ConfigVersion.scope_guid == scope_guid)
            .order_by(ConfigVersion.version)
        )
    )


def change(
    session: Session,
    scope: Scope,
    *,
    values: Mapping[str, str],
    unset: Iterable[str] = (),
    secret: Iterable[str] = (),
    actor: str,
) -> ConfigVersion | None:
    """Set `values` and drop `unset`; `secret` keys are shown masked from now on. None when
    nothing would change (no new version)."""
    last = latest(session, scope.guid)
    now = dict(last.values) if last else {}
    secrets = set(last.secret_keys) if last else set()
    for key in unset:
        now.pop(key, None)
        secrets.discard(key)
    now.update(values)
    secrets |= set(secret) & set(now)
    if last is not None and now == dict(last.values) and sorted(secrets) == last.secret_keys:
        return None
    if last is None and not now:
        return None
    row = ConfigVersion(
        scope_guid=scope.guid,
        app_guid=scope.app_guid,
        space_guid=scope.space_guid,
        version=(last.version if last else 0) + 1,
        values=now,
        secret_keys=sorted(secrets),
        action="set" if values else "unset",
        keys=sorted({*values, *unset}),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def rollback(session: Session, scope: Scope, *, to: int, actor: str) -> ConfigVersion:
    """The values of version `to` again, as a new version; KeyError when there is none."""
    old = session.scalars(
        select(ConfigVersion).where(
            ConfigVersion.scope_guid == scope.guid, ConfigVersion.version == to
        )
    ).first()
    if old is None:
        raise KeyError(to)
    last = latest(session, scope.guid)
    assert last is not None  # `old` exists
    row = ConfigVersion(
        scope_guid=scope.guid,
        app_guid=scope.app_guid,
        space_guid=scope.space_guid,
        version=last.version + 1,
        values=dict(old.values),
        secret_keys=list(old.secret_keys),
        action="rollback",
        keys=sorted(set(old.values) ^ set(last.values) | _changed(old.values, last.values)),
        from_version=to,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def _changed(a: Mapping[str, str], b: Mapping[str, str]) -> set[str]:
    return {key for key in set(a) & set(b) if a[key] != b[key]}


def effective(session: Session, app: App) -> Effective:
    space, own = latest(session, app.space_guid), latest(session, app.guid)
    values = {**(space.values if space else {}), **(own.values if own else {})}
    version = f"s{space.version if space else 0}.a{own.version if own else 0}"
    return Effective(version, {str(k): str(v) for k, v in values.items()})
