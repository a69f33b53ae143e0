"""Operator and self-service JSON routes: users, tokens, quota, prices, webhooks, the caller.

``/mj/admin/...`` needs an admin token (403 ``forbidden`` otherwise); ``/mj/account/self``
answers any valid token about its own user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from mjgate.api import answers
from mjgate.api.deps import CallerDep, RuntimeDep, caller
from mjgate.api.openapi import errors, ok
from mjgate.api.schemas import Body
from mjgate.domain.accounts import LedgerEntry, User
from mjgate.domain.webhooks import WebhookDelivery
from mjgate.errors import (
    AccountError,
    AmountOutOfRange,
    BindRequestBodyFailed,
    DeliveryNotFound,
    DeliveryNotRetryable,
    Forbidden,
    PriceKeyInvalid,
    QuotaNotEnough,
    UserNotFound,
)
from mjgate.services import accounts, deliveries, pricing, quota
from mjgate.services.submit import Caller

router = APIRouter(tags=["admin"])
Json = dict[str, Any]


async def admin_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.is_admin:
        raise Forbidden("This route is for administrators.")
    return who


AdminDep = Annotated[Caller, Depends(admin_caller)]


class NewUserBody(Body):
    name: str
    admin: bool = False


class NewTokenBody(Body):
    label: str = ""
    spend_cap: int | None = None


class QuotaBody(Body):
    amount: int
    reason: str = ""


class PriceBody(Body):
    price: int | None


def user_json(user: User) -> Json:
    return {
        "id": user.id,
        "name": user.name,
        "isAdmin": user.is_admin,
        "enabled": user.enabled,
        "balance": user.balance,
    }


def ledger_json(entry: LedgerEntry) -> Json:
    return {
        "id": entry.id,
        "taskId": entry.task_id,
        "amount": entry.amount,
        "kind": entry.kind.value,
        "reason": entry.reason,
        "time": entry.created_at,
    }


def report_json(report: quota.QuotaReport) -> Json:
    return {
        "user": user_json(report.user),
        "balance": report.user.balance,
        "spent": report.spent,
        "ledgerSum": report.ledger_sum,
        "ledger": [ledger_json(entry) for entry in report.ledger],
    }


@router.get(
    "/admin/users",
    summary="All users with their balance",
    response_model=None,
    responses=ok(list[answers.User], example=answers.EXAMPLES["users"]),
)
async def list_users(rt: RuntimeDep, _: AdminDep) -> list[Json]:
    return [user_json(user) for user in await accounts.list_users(rt)]


@router.post(
    "/admin/users",
    summary="Create a user",
    response_model=None,
    responses={**ok(answers.User, example=answers.EXAMPLES["user"]), **errors(AccountError)},
)
async def create_user(body: NewUserBody, rt: RuntimeDep, _: AdminDep) -> Json:
    return user_json(await accounts.create_user(rt, body.name, is_admin=body.admin))


@router.post(
    "/admin/users/{name}/tokens",
    summary="Create a token (shown once)",
    response_model=None,
    responses={
        **ok(answers.NewToken, example=answers.EXAMPLES["token"]),
        **errors(AccountError, UserNotFound, AmountOutOfRange),
    },
)
async def create_token(name: str, body: NewTokenBody, rt: RuntimeDep, _: AdminDep) -> Json:
    row, token = await accounts.create_token(rt, name, body.label, spend_cap=body.spend_cap)
    return {"token": token, "prefix": row.prefix, "label": row.label, "spendCap": row.spend_cap}


@router.post(
    "/admin/users/{name}/quota",
    summary="Grant (or take back) quota",
    response_model=None,
    responses={
        **ok(answers.Balance, example=answers.EXAMPLES["balance"]),
        **errors(AccountError, UserNotFound, AmountOutOfRange, QuotaNotEnough),
    },
)
async def add_quota(name: str, body: QuotaBody, rt: RuntimeDep, _: AdminDep) -> Json:
    balance = await quota.add_quota(rt, name, body.amount, body.reason)
    return {"name": name, "balance": balance}


@router.get(
    "/admin/users/{name}/quota",
    summary="Balance and recent ledger rows",
    response_model=None,
    responses={
        **ok(answers.QuotaReport, example=answers.EXAMPLES["quota"]),
        **errors(BindRequestBodyFailed, UserNotFound),
    },
)
async def show_quota(
    name: str,
    rt: RuntimeDep,
    _: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Json:
    return report_json(await quota.quota_report(rt, name, limit))


@router.get(
    "/admin/prices",
    summary="Every action's price in every mode",
    response_model=None,
    responses=ok(list[answers.PriceRow], example=answers.EXAMPLES["prices"]),
)
async def list_prices(rt: RuntimeDep, _: AdminDep) -> list[Any]:
    return pricing.price_rows(await pricing.price_table(rt))


@router.put(
    "/admin/prices/{key}",
    summary="Override a price (null: back to the default)",
    response_model=None,
    responses={
        **ok(answers.PriceSet, example=answers.EXAMPLES["price"]),
        **errors(PriceKeyInvalid, AmountOutOfRange),
    },
)
async def set_price(key: str, body: PriceBody, rt: RuntimeDep, _: AdminDep) -> Json:
    canonical = await pricing.set_price(rt, key, body.price)
    return {"key": canonical, "price": body.price}


def delivery_json(row: WebhookDelivery) -> Json:
    return {
        "id": row.id,
        "taskId": row.task_id,
        "url": row.url,
        "eventId": row.event_id,
        "status": row.status.value,
        "final": row.is_final,
        "attempts": row.attempts,
        "createdAt": row.created_at,
        "nextAttemptAt": row.next_attempt_at,
        "lastAttemptAt": row.last_attempt_at,
        "deliveredAt": row.delivered_at,
        "expiresAt": row.expires_at,
        "lastError": row.last_error,
    }


@router.get(
    "/admin/webhooks",
    summary="Webhook deliveries, newest first",
    response_model=None,
    responses={
        **ok(list[answers.WebhookDelivery], example=[answers.EXAMPLES["delivery"]]),
        **errors(BindRequestBodyFailed),
    },
)
async def list_webhooks(
    rt: RuntimeDep,
    _: AdminDep,
    failed: Annotated[bool, Query(description="Only dead ones and those awaiting a retry")] = False,
    task_id: Annotated[str | None, Query(alias="taskId")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[Json]:
    rows = await deliveries.list_deliveries(rt, failed_only=failed, task_id=task_id, limit=limit)
    return [delivery_json(row) for row in rows]


@router.post(
    "/admin/webhooks/{delivery_id}/retry",
    summary="Send a dead delivery again now",
    response_model=None,
    responses={
        **ok(answers.WebhookDelivery, example=answers.EXAMPLES["delivery"]),
        **errors(DeliveryNotFound, DeliveryNotRetryable),
    },
)
async def retry_webhook(
    # Bounded to the id column (INTEGER): a larger one reached PostgreSQL as a DataError, a 500.
    delivery_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    rt: RuntimeDep,
    _: AdminDep,
) -> Json:
    return delivery_json(await deliveries.retry_delivery(rt, delivery_id))


@router.get(
    "/account/self",
    summary="The caller's balance, spend and recent ledger rows",
    response_model=None,
    responses={
        **ok(answers.QuotaReport, example=answers.EXAMPLES["quota"]),
        **errors(BindRequestBodyFailed),
    },
)
async def account_self(
    rt: RuntimeDep, who: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> Json:
    return report_json(await quota.quota_report(rt, who.name, limit))
