"""The user's decision, through authgate's own service (``runtime.approvals``), as a process.

    python tests/approvals/decide.py EMAIL approve|deny [COUNT]

Run with the authgate server's environment: it opens the same state, waits until the
user has COUNT pending requests (default 1), decides each as the account page would
(``Approvals.approve`` / ``deny``: audit, ping), and prints the summaries it decided.
"""

from __future__ import annotations

import asyncio
import sys
import time

from authgate.cli.common import run_with_runtime
from authgate.runtime import Runtime


async def decide(runtime: Runtime, email: str, decision: str, count: int) -> list[str]:
    user = await runtime.store.user_by_email(email)
    assert user is not None, email
    deadline = time.monotonic() + 30
    pending = await runtime.approvals.pending_for(user.id)
    while len(pending) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(pending)} pending approvals")
        await asyncio.sleep(0.1)  # waiting for the agent's request to arrive
        pending = await runtime.approvals.pending_for(user.id)
    decided = []
    for approval in pending:
        await getattr(runtime.approvals, decision)(approval.id, user_id=user.id)
        decided += [str(d.get("summary")) for d in approval.authorization_details]
    return decided


def main() -> None:
    email, decision = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    assert decision in ("approve", "deny")
    for summary in run_with_runtime(lambda runtime: decide(runtime, email, decision, count)):
        print(summary)


if __name__ == "__main__":
    main()
