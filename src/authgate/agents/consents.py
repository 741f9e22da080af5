"""Users' consents to agents: the precondition of every delegation (issue 19 item 4).

RFC 8693 leaves to the server whether an actor may act for a subject (s1.1, s4.4
``may_act``). Holding a user's access token proves nothing about the user's wishes, so
token exchange for (user, agent) needs a consent the user created beforehand, and the
delegation it issues stays within that consent's scopes and lifetime.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import AgentConsent
from authgate.storage.store import guarded_session

__all__ = ["AgentConsents"]


class AgentConsents:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = system_clock) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._clock = clock

    async def grant(
        self, *, user_id: str, agent_id: str, scopes: Sequence[str], max_ttl: int
    ) -> AgentConsent:
        """Create the user's consent to this agent, or replace its scopes and lifetime."""
        now = int(self._clock())
        async with guarded_session(self._sessions) as db:
            consent = await self._find(db, user_id, agent_id)
            if consent is None:
                consent = AgentConsent(
                    id=str(uuid.uuid4()), user_id=user_id, agent_id=agent_id, created_at=now
                )
                db.add(consent)
            consent.scopes = sorted(set(scopes))
            consent.max_ttl = max_ttl
            consent.updated_at = now
            await db.commit()
            await db.refresh(consent)
        return consent

    async def get(self, user_id: str, agent_id: str) -> AgentConsent | None:
        async with guarded_session(self._sessions) as db:
            return await self._find(db, user_id, agent_id)

    async def for_user(self, user_id: str) -> list[AgentConsent]:
        async with guarded_session(self._sessions) as db:
            query = (
                select(AgentConsent)
                .where(AgentConsent.user_id == user_id)
                .order_by(AgentConsent.created_at, AgentConsent.id)
            )
            return list((await db.execute(query)).scalars().all())

    async def withdraw(self, *, user_id: str, consent_id: str) -> AgentConsent | None:
        """Remove one of this user's consents; None when the user has no such consent."""
        async with guarded_session(self._sessions) as db:
            consent = await db.get(AgentConsent, consent_id)
            if consent is None or consent.user_id != user_id:
                return None
            await db.execute(delete(AgentConsent).where(AgentConsent.id == consent_id))
            await db.commit()
            return consent

    @staticmethod
    async def _find(db: AsyncSession, user_id: str, agent_id: str) -> AgentConsent | None:
        query = select(AgentConsent).where(
            AgentConsent.user_id == user_id, AgentConsent.agent_id == agent_id
        )
        return (await db.execute(query)).scalar_one_or_none()
