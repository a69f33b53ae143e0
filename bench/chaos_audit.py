"""What bench/chaos.py checks in the database once the fleet has drained: lost tasks, tasks
started twice, and quota that does not add up. Read straight from PostgreSQL, not through the
API, so that nothing the gateway believes about itself enters the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

FINAL = ("SUCCESS", "FAILURE", "CANCEL")

# A user whose balance is not the sum of their ledger entries.
BALANCE_VS_LEDGER = """
SELECT u.id FROM users u LEFT JOIN ledger l ON l.user_id = u.id
GROUP BY u.id, u.balance HAVING u.balance <> COALESCE(SUM(l.amount), 0)
"""
# A priced task without exactly one charge of its price, or a refund it should not (or
# should) have; and a charge or refund naming no task at all.
CHARGES_VS_TASKS = """
SELECT t.id FROM tasks t
WHERE t.price > 0 AND (
    (SELECT COUNT(*) FROM ledger l WHERE l.task_id = t.id AND l.kind = 'charge'
        AND l.amount = -t.price) <> 1
    OR (SELECT COUNT(*) FROM ledger l WHERE l.task_id = t.id AND l.kind = 'refund')
        <> CASE WHEN t.refunded THEN 1 ELSE 0 END
)
UNION ALL
SELECT l.task_id FROM ledger l
WHERE l.task_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = l.task_id)
"""


@dataclass(frozen=True)
class Verdict:
    lost: list[str]  # accepted, yet missing or not final when the drain ended
    failed: dict[str, str]  # accepted and final, but not SUCCESS: id -> failReason
    started_twice: list[str]  # more starts than one plus the recorded takeovers
    balance_mismatches: list[str]  # "user N" or "task ID"
    takeovers: int


async def audit(url: str, accepted: list[str]) -> Verdict:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT id, status, fail_reason, start_count, takeovers FROM tasks"
            " WHERE id = ANY($1::text[])",
            accepted,
        )
        by_id = {row["id"]: row for row in rows}
        lost = [i for i in accepted if i not in by_id or by_id[i]["status"] not in FINAL]
        failed = {
            row["id"]: str(row["fail_reason"])
            for row in rows
            if row["status"] in FINAL and row["status"] != "SUCCESS"
        }
        twice = await connection.fetch("SELECT id FROM tasks WHERE start_count > 1 + takeovers")
        users = await connection.fetch(BALANCE_VS_LEDGER)
        charges = await connection.fetch(CHARGES_VS_TASKS)
        takeovers = await connection.fetchval("SELECT COALESCE(SUM(takeovers), 0) FROM tasks")
    finally:
        await connection.close()
    return Verdict(
        lost=lost,
        failed=failed,
        started_twice=[r["id"] for r in twice],
        balance_mismatches=[f"user {r['id']}" for r in users]
        + [f"task {r['id']}" for r in charges],
        takeovers=int(takeovers),
    )


async def unfinished(url: str, accepted: list[str]) -> int:
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT COUNT(*) FROM tasks WHERE id = ANY($1::text[])"
            " AND status NOT IN ('SUCCESS', 'FAILURE', 'CANCEL')",
            accepted,
        )
        found: int = await connection.fetchval(
            "SELECT COUNT(*) FROM tasks WHERE id = ANY($1::text[])", accepted
        )
    finally:
        await connection.close()
    return count + (len(accepted) - found)
