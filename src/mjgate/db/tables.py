"""The schema, and the imperative mapping of the domain's dataclasses onto it.

Imperative mapping keeps ``mjgate.domain`` free of SQLAlchemy while services still work
with plain objects whose changes the unit of work flushes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import registry

from mjgate.domain.accounts import ApiToken, LedgerEntry, LedgerKind, User
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import BotType, Mode, Task, TaskAction, TaskStatus
from mjgate.domain.webhooks import DeliveryStatus, WebhookDelivery

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _enum(
    enum_class: type[TaskStatus | TaskAction | Mode | BotType | LedgerKind | DeliveryStatus],
) -> Enum:
    # Stored as plain strings (no native enum type) so new values need no DDL.
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [member.value for member in members],
    )


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("balance", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("label", String(128), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", BigInteger, nullable=False),
    Column("spend_cap", BigInteger, nullable=True),
    Column("spent", BigInteger, nullable=False, default=0),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("config", JSON, nullable=False),
    Column("core_size", Integer, nullable=False),
    Column("queue_size", Integer, nullable=False),
    Column("timeout_seconds", Integer, nullable=False),
    Column("modes", JSON, nullable=True),
    Column("actions", JSON, nullable=True),
    Column("weight", Integer, nullable=False, default=1),
    Column("priority", Integer, nullable=False, default=0),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", Text, nullable=True),
    Column("disabled_at", BigInteger, nullable=True),
    Column("enabled_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # Health of the executor behind the channel (relay upstreams): failures in a row, and
    # until when it rests out of rotation, with the last reason for `mjgate channel list`.
    Column("failures", Integer, nullable=False, default=0, server_default="0"),
    Column("resting_until", BigInteger, nullable=True),
    Column("health_reason", Text, nullable=True),
    # Set by `mjgate channel remove`: the row stays for the finished tasks that point at it
    # (tasks.channel_id), out of rotation and out of every list.
    Column("removed_at", BigInteger, nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_id", Integer, ForeignKey("tokens.id"), nullable=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=True),
    Column("parent_id", String(20), nullable=True),
    Column("action", _enum(TaskAction), nullable=False),
    Column("status", _enum(TaskStatus), nullable=False),
    Column("mode", _enum(Mode), nullable=False),
    Column("bot_type", _enum(BotType), nullable=False),
    Column("prompt", Text, nullable=False, default=""),
    Column("prompt_en", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("state", String(4096), nullable=True),
    Column("custom_id", String(255), nullable=True),
    Column("notify_hook", String(2000), nullable=True),
    Column("public_base", String(512), nullable=True),
    Column("submit_time", BigInteger, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("finish_time", BigInteger, nullable=True),
    Column("progress", Integer, nullable=False, default=0),
    Column("fail_reason", Text, nullable=True),
    Column("buttons", JSON, nullable=False),
    Column("properties", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    Column("price", BigInteger, nullable=False, default=0),
    Column("refunded", Boolean, nullable=False, default=False),
    Column("deadline_at", BigInteger, nullable=True),
    Column("worker_id", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("provider_ref", String(128), nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    # The task's place in its channel's queue, drawn under the channel lock, so tasks start
    # in the order their submits were answered ("N tasks ahead"), not by clock readings.
    Column("queue_seq", BigInteger, nullable=True),
    # How often the engine handed the task to its executor's start (a claim), and how often
    # a worker took it over from one whose lease ran out: the audit that nothing ran twice.
    Column("start_count", Integer, nullable=False, default=0, server_default="0"),
    Column("takeovers", Integer, nullable=False, default=0, server_default="0"),
    # The caller's newest tasks (list), and a channel's load by status (submit, dispatch).
    Index("ix_tasks_user_id_submit_time", "user_id", "submit_time"),
    Index("ix_tasks_channel_id_status_submit_time", "channel_id", "status", "submit_time"),
    Index("ix_tasks_status_deadline_at", "status", "deadline_at"),
    Index("ix_tasks_channel_id_queue_seq", "channel_id", "queue_seq"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_id", Integer, ForeignKey("tokens.id"), nullable=True),
    Column("task_id", String(20), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("kind", _enum(LedgerKind), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # A task is charged at most once and refunded at most once: the database says so, not
    # just the code (top-ups have no task, and NULLs never collide).
    UniqueConstraint("task_id", "kind", name="uq_ledger_task_id_kind"),
)

# Operator price overrides set at run time (`mjgate price set`, the admin API). They win over
# the settings' overrides, which win over the shipped defaults.
prices = Table(
    "prices",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("price", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# The webhook outbox (PROTOCOL §8): one row per POST owed, written with the change it reports.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(20), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("is_final", Boolean, nullable=False),
    Column("status", _enum(DeliveryStatus), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("last_attempt_at", BigInteger, nullable=True),
    Column("delivered_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("worker_id", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    # Due work (the delivery loop's claim), and a task's rows still owed (order, supersede).
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_task_id_status", "task_id", "status"),
)

mapper_registry = registry(metadata=metadata)
mapper_registry.map_imperatively(User, users)
mapper_registry.map_imperatively(ApiToken, tokens)
mapper_registry.map_imperatively(Channel, channels)
mapper_registry.map_imperatively(Task, tasks)
mapper_registry.map_imperatively(LedgerEntry, ledger)
mapper_registry.map_imperatively(WebhookDelivery, webhook_deliveries)

# GCRA state of rate-limited keys (db/rate_buckets.py): tat in µs on the database's clock.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tat", BigInteger, nullable=False),
    Column("granted", BigInteger, nullable=False),
)
