"""`GET /v3/usage`: instance-hours, memory GB-hours, task-hours and service-instance hours per
org and space over a period (`yun usage`); see `store/usage.py`. A caller sees the orgs they
can see (all of them for admins)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import not_found
from yun.api.events import parse_since
from yun.api.policy import CallerGrants
from yun.store.models import Org
from yun.store.roles import SEE_ORG
from yun.store.usage import record, report

router = APIRouter()


@router.get("/v3/usage")
def usage(
    ctx: Ctx,
    user: CurrentUser,
    grants: CallerGrants,
    org: str | None = None,
    since: str = "30d",
) -> dict[str, Any]:
    now = time.time()
    start = parse_since(since, now)
    with ctx.store.session() as session:
        record(session, now)  # up to this moment, not to the recorder's last minute
        orgs = list(session.scalars(select(Org)))
        seen = {o.guid for o in orgs if user.admin or grants.may(SEE_ORG, o.guid, None)}
        if org is not None:
            named = [o for o in orgs if o.name == org and o.guid in seen]
            if not named:
                raise not_found(f"org {org}")
            seen = {named[0].guid}
        rows = report(session, since=start, until=now, org_guids=seen)
    return {"since": start, "until": now, "resources": [row.view() for row in rows]}
