"""Prices: shipped defaults, the settings' overrides, and the operator's (in the database)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mjgate.domain.accounts import amount_in_range
from mjgate.domain.pricing import PriceList
from mjgate.domain.tasks import Mode, TaskAction
from mjgate.errors import AmountOutOfRange, PriceKeyInvalid
from mjgate.services.ports import PriceWork
from mjgate.services.runtime import Runtime


async def current_prices(rt: Runtime, uow: PriceWork) -> PriceList:
    """Shipped defaults, then the settings' overrides (parsed once, at start), then the
    operator's, read from the database in the caller's transaction."""
    return rt.prices.with_overrides(await uow.price_overrides())


async def price_table(rt: Runtime) -> list[tuple[TaskAction, Mode, int]]:
    async with rt.db.read() as uow:
        return (await current_prices(rt, uow)).table()


async def set_price(rt: Runtime, key: str, price: int | None) -> str:
    """Override one price (``IMAGINE`` or ``IMAGINE:RELAX``); None returns it to the default."""
    try:
        canonical = PriceList.canonical_key(key)
    except ValueError as exc:
        raise PriceKeyInvalid(str(exc)) from None
    if price is not None and price < 0:
        raise PriceKeyInvalid("A price is a whole number of quota units, 0 or more.")
    if price is not None and not amount_in_range(price):
        raise AmountOutOfRange()
    async with rt.db.write() as uow:
        await uow.set_price_override(canonical, price, rt.clock())
    return canonical


def price_rows(table: Sequence[tuple[TaskAction, Mode, int]]) -> list[Mapping[str, object]]:
    return [{"action": a.value, "mode": m.value, "price": p} for a, m, p in table]
