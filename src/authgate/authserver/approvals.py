"""The user's side of approvals: what is waiting, and the yes or no (docs/ciba.md).

An agent asks through the backchannel (``authserver/ciba.py``, OpenID CIBA Core 1.0
s7); the request waits here for its user, who approves or denies it on ``/account``
(CIBA s8 leaves how the user is reached and authenticated to the server). A decision
is audited and, in ping mode, announced to the agent (CIBA s10.2); the agent then
fetches the approval token at the token endpoint.

Pages see a request by its public ``id`` only: the ``auth_req_id`` is the agent's
secret, and an id of another user's request is the same "not found" as an unknown one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from authgate.agents.registry import PING, ClientRegistry
from authgate.audit import AuditTrail
from authgate.authserver.approval_notices import ApprovalNotices
from authgate.authserver.approval_store import APPROVED, DENIED, ApprovalStore
from authgate.clock import Clock, system_clock
from authgate.devices import DeviceInfo
from authgate.errors import ApprovalNotFoundError
from authgate.keys.encryption import DecryptionError, KeyEncryptionKey
from authgate.storage.models import BackchannelRequest

__all__ = ["Approvals", "PendingApproval", "open_ping_secret", "seal_ping_secret"]

logger = logging.getLogger("authgate.approvals")
_MAX_ID = 36


@dataclass(frozen=True, slots=True)
class PendingApproval:
    id: str  # public id for pages (NOT the auth_req_id, a secret of the agent)
    user_id: str
    client_id: str  # the agent's client id
    agent_name: str  # display name of the agent
    binding_message: str | None
    scope: str
    authorization_details: list[dict[str, Any]]
    created_at: float  # epoch seconds
    expires_at: float

    @classmethod
    def of(cls, row: BackchannelRequest, agent_name: str | None) -> PendingApproval:
        return cls(
            id=row.id,
            user_id=row.user_id,
            client_id=row.client_id,
            agent_name=agent_name or row.client_id,
            binding_message=row.binding_message,
            scope=" ".join(row.scopes),
            authorization_details=list(row.authorization_details),
            created_at=float(row.created_at),
            expires_at=float(row.expires_at),
        )


def seal_ping_secret(
    kek: KeyEncryptionKey, request_id: str, *, auth_req_id: str, bearer: str
) -> bytes:
    """What a ping needs (CIBA s10.2), sealed to this request's row."""
    plain = json.dumps({"auth_req_id": auth_req_id, "bearer": bearer}).encode()
    return kek.encrypt(plain, associated=f"backchannel|{request_id}")


def open_ping_secret(kek: KeyEncryptionKey, row: BackchannelRequest) -> tuple[str, str] | None:
    """``(auth_req_id, bearer)`` of a ping-mode request; None if it cannot be opened."""
    if row.ping_secret is None or row.kek_id != kek.kek_id:
        return None
    try:
        opened = json.loads(kek.decrypt(row.ping_secret, associated=f"backchannel|{row.id}"))
    except (DecryptionError, ValueError):
        return None
    return str(opened["auth_req_id"]), str(opened["bearer"])


class Approvals:
    def __init__(
        self,
        *,
        store: ApprovalStore,
        clients: ClientRegistry,
        audit: AuditTrail,
        notices: ApprovalNotices,
        kek: KeyEncryptionKey,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._clients = clients
        self._audit = audit
        self._notices = notices
        self._kek = kek
        self._clock = clock

    async def pending_for(self, user_id: str) -> list[PendingApproval]:
        """The user's requests still waiting for a decision, oldest first."""
        rows = await self._store.pending(user_id, int(self._clock()))
        return [PendingApproval.of(row, name) for row, name in rows]

    async def approve(
        self, approval_id: str, *, user_id: str, device: DeviceInfo | None = None
    ) -> None:
        """The user says yes (CIBA s8). ``ApprovalNotFoundError`` for an unknown id or
        another user's; ``ApprovalConflictError`` once decided or expired."""
        await self._decide(approval_id, user_id, APPROVED, device)

    async def deny(
        self, approval_id: str, *, user_id: str, device: DeviceInfo | None = None
    ) -> None:
        """The user says no: the agent's next poll gets ``access_denied`` (CIBA s11)."""
        await self._decide(approval_id, user_id, DENIED, device)

    async def _decide(
        self, approval_id: str, user_id: str, status: str, device: DeviceInfo | None
    ) -> None:
        if not approval_id or len(approval_id) > _MAX_ID:
            raise ApprovalNotFoundError()
        row = await self._store.decide(
            approval_id, user_id=user_id, status=status, now=int(self._clock())
        )
        await self._audit.record(
            f"approval.{status}",
            user_id=user_id,
            device=device,
            approval=row.id,
            agent=row.client_id,
            resource=row.resource,
        )
        if row.mode == PING:
            await self._ping(row)

    async def _ping(self, row: BackchannelRequest) -> None:
        client = await self._clients.get(row.client_id)
        endpoint = client.backchannel_notification_endpoint if client is not None else None
        secret = open_ping_secret(self._kek, row)
        if endpoint is None or secret is None:
            logger.warning("approval ping for %s skipped: no endpoint or token", row.id)
            return
        auth_req_id, bearer = secret
        self._notices.ping(endpoint, bearer, auth_req_id)
