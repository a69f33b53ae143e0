"""Users, their API tokens, and the quota ledger that backs every balance."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

TOKEN_PREFIX = "mjg_"

# Bounds on what operators may write into the ledger: far below BIGINT (9.2 * 10^18), so no
# sum of balances and grants overflows it, and SQLite never turns a balance into a float.
MAX_AMOUNT = 10**12  # one grant, price or spending cap
MAX_BALANCE = 10**15  # one balance, either way


def amount_in_range(amount: int) -> bool:
    return -MAX_AMOUNT <= amount <= MAX_AMOUNT


def balance_in_range(balance: int) -> bool:
    return -MAX_BALANCE <= balance <= MAX_BALANCE


@dataclass(eq=False)
class User:
    name: str
    is_admin: bool = False
    enabled: bool = True
    balance: int = 0
    created_at: int = 0
    id: int | None = None


@dataclass(eq=False)
class ApiToken:
    """A token is shown once; only its SHA-256 is stored (a leaked table leaks no token)."""

    user_id: int
    token_hash: str
    prefix: str
    label: str = ""
    enabled: bool = True
    created_at: int = 0
    spend_cap: int | None = None
    spent: int = 0
    id: int | None = None


class LedgerKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    TOPUP = "topup"


@dataclass(eq=False)
class LedgerEntry:
    """One movement of quota. A user's balance always equals the sum of their entries."""

    user_id: int
    amount: int
    kind: LedgerKind
    reason: str
    created_at: int
    task_id: str | None = None
    token_id: int | None = None
    id: int | None = None


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_prefix(token: str) -> str:
    """What an operator sees of a token: enough to recognise it, useless to an attacker."""
    return token[: len(TOKEN_PREFIX) + 6]


class TokenHolder(NamedTuple):
    """A token and its user as authentication needs them, read in one statement."""

    token_id: int
    token_enabled: bool
    user_id: int
    user_is_admin: bool
    user_enabled: bool
    user_name: str
