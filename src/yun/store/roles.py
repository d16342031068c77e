"""Cloud Foundry's roles, and what a user's roles let them do where.

A user has the Admin flag, or roles in orgs (OrgManager, OrgAuditor, OrgUser) and in spaces
(SpaceManager, SpaceDeveloper, SpaceAuditor, SpaceSupporter). A `Permission` names the roles
that grant it in a space, or in the space's org; `Grants` is one user's roles, read once per
call, and answers "may they, here?".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.store.models import RoleAssignment, Space, User

ORG_MANAGER, ORG_AUDITOR, ORG_USER = "OrgManager", "OrgAuditor", "OrgUser"
SPACE_MANAGER, SPACE_DEVELOPER = "SpaceManager", "SpaceDeveloper"
SPACE_AUDITOR, SPACE_SUPPORTER = "SpaceAuditor", "SpaceSupporter"
ORG_ROLES = (ORG_MANAGER, ORG_AUDITOR, ORG_USER)
SPACE_ROLES = (SPACE_MANAGER, SPACE_DEVELOPER, SPACE_AUDITOR, SPACE_SUPPORTER)


def role_name(text: str, allowed: tuple[str, ...]) -> str | None:
    """`text` as one of `allowed`: `SpaceDeveloper`, `spacedeveloper` and `space_developer` all
    name the same role (the cf CLI's and the v3 API's spellings); None when it names none."""
    wanted = text.replace("_", "").replace("-", "").lower()
    for role in allowed:
        if role.lower() == wanted:
            return role
    return None


@dataclass(frozen=True)
class Permission:
    """What a call needs: one of `space_roles` in the space it acts on, or one of `org_roles`
    in that space's org (for a call on an org itself, only `org_roles` count)."""

    name: str
    space_roles: frozenset[str] = frozenset()
    org_roles: frozenset[str] = frozenset()


SEE = Permission(
    "see", frozenset(SPACE_ROLES), frozenset({ORG_MANAGER})
)  # a space's apps, routes, services, logs, events
SECRETS = Permission("read env and credentials", frozenset({SPACE_DEVELOPER}))
OPERATE = Permission(
    "operate (start, stop, scale, map routes, bind)",
    frozenset({SPACE_DEVELOPER, SPACE_SUPPORTER}),
)
DEVELOP = Permission("develop (push, change, delete)", frozenset({SPACE_DEVELOPER}))
MANAGE_SPACE = Permission("manage the space", frozenset({SPACE_MANAGER}), frozenset({ORG_MANAGER}))
SEE_ORG = Permission("see the org", frozenset(SPACE_ROLES), frozenset(ORG_ROLES))
MANAGE_ORG = Permission("manage the org", org_roles=frozenset({ORG_MANAGER}))
SEE_ALL_SPACES = frozenset({ORG_MANAGER, ORG_AUDITOR})  # org roles that list all its spaces
SEE_SPACE = Permission("see the space", frozenset(SPACE_ROLES), SEE_ALL_SPACES)


@dataclass
class Grants:
    """One user's roles: by org guid, and by space guid (with each such space's org)."""

    user: str
    admin: bool = False
    org_roles: dict[str, set[str]] = field(default_factory=dict)
    space_roles: dict[str, set[str]] = field(default_factory=dict)
    space_orgs: dict[str, str] = field(default_factory=dict)

    def may(self, permission: Permission, org_guid: str, space_guid: str | None) -> bool:
        if self.admin:
            return True
        if self.org_roles.get(org_guid, set()) & permission.org_roles:
            return True
        if space_guid is None:  # a call on the org: any space role in it counts where asked
            return bool(permission.space_roles) and any(
                self.space_roles[s] & permission.space_roles
                for s, org in self.space_orgs.items()
                if org == org_guid
            )
        return bool(self.space_roles.get(space_guid, set()) & permission.space_roles)

    def anywhere(self, permission: Permission) -> bool:
        """Whether some space or org grants them `permission`."""
        return (
            self.admin
            or any(roles & permission.space_roles for roles in self.space_roles.values())
            or any(roles & permission.org_roles for roles in self.org_roles.values())
        )

    def orgs(self) -> set[str]:
        """The guids of the orgs they have a role in, or a role in one of whose spaces."""
        return set(self.org_roles) | set(self.space_orgs.values())


def spaces_where(session: Session, grants: Grants, permission: Permission) -> set[str] | None:
    """The guids of the spaces where `grants` give `permission`; None for all (an admin)."""
    if grants.admin:
        return None
    spaces = session.scalars(select(Space).where(Space.org_guid.in_(grants.orgs())))
    return {s.guid for s in spaces if grants.may(permission, s.org_guid, s.guid)}


def grants_of(session: Session, user: User) -> Grants:
    grants = Grants(user=user.name, admin=user.admin)
    rows = session.execute(
        select(RoleAssignment, Space.org_guid)
        .outerjoin(Space, Space.guid == RoleAssignment.space_guid)
        .where(RoleAssignment.user_guid == user.guid)
    )
    for role, space_org in rows:
        if role.space_guid is None:
            grants.org_roles.setdefault(role.org_guid, set()).add(role.role)
        else:
            grants.space_roles.setdefault(role.space_guid, set()).add(role.role)
            grants.space_orgs[role.space_guid] = space_org or role.org_guid
    return grants
