"""Prices of actions in whole quota units, per speed mode, with operator overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from mjgate.domain.tasks import Mode, TaskAction

# What an action costs in FAST mode, before any override.
DEFAULT_PRICES: Mapping[TaskAction, int] = MappingProxyType(
    {
        TaskAction.IMAGINE: 100,
        TaskAction.UPSCALE: 50,
        TaskAction.VARIATION: 100,
        TaskAction.REROLL: 100,
        TaskAction.BLEND: 100,
        TaskAction.DESCRIBE: 50,
        TaskAction.SHORTEN: 50,
        TaskAction.PAN: 100,
        TaskAction.ZOOM: 100,
        TaskAction.INPAINT: 100,
        TaskAction.UPSCALE_HD: 100,
        TaskAction.VIDEO: 800,
        TaskAction.EDITS: 100,
        TaskAction.SWAP_FACE: 100,
        TaskAction.UPLOAD: 0,
    }
)

# Decimal, not float, so that "half up" is exact (0.5 × 75 is 37.5, rounded to 38).
MODE_FACTORS: Mapping[Mode, Decimal] = MappingProxyType(
    {Mode.RELAX: Decimal("0.5"), Mode.FAST: Decimal("1.0"), Mode.TURBO: Decimal("2.0")}
)


def scale_price(fast_price: int, mode: Mode) -> int:
    """A FAST price in another mode, rounded to a whole unit, halves up."""
    scaled = fast_price * MODE_FACTORS[mode]
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def default_price(action: TaskAction, mode: Mode) -> int:
    return scale_price(DEFAULT_PRICES[action], mode)


@dataclass(frozen=True)
class PriceList:
    """Default prices with overrides.

    An override key is ``"IMAGINE"`` (that action in every mode, no mode factor applied) or
    ``"IMAGINE:RELAX"`` (that action in one mode). Keys are case-insensitive. The most specific
    price wins: action and mode, then action, then the default times the mode factor.
    """

    overrides: Mapping[str, int] = field(default_factory=dict)
    _by_key: Mapping[tuple[TaskAction, Mode | None], int] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_key: dict[tuple[TaskAction, Mode | None], int] = {}
        for key, price in self.overrides.items():
            parsed = self.parse_key(key)
            if parsed in by_key:
                raise ValueError(f"price key {key!r} is given twice")
            if not isinstance(price, int) or isinstance(price, bool):
                raise ValueError(f"price of {key!r} must be a whole number, not {price!r}")
            if price < 0:
                raise ValueError(f"price of {key!r} must not be negative, got {price}")
            by_key[parsed] = price
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))

    @staticmethod
    def parse_key(key: str) -> tuple[TaskAction, Mode | None]:
        """``"IMAGINE"`` → (IMAGINE, None); ``"imagine:relax"`` → (IMAGINE, RELAX)."""
        if not isinstance(key, str):
            raise ValueError(f"price key must be a string, not {key!r}")
        action_name, colon, mode_name = key.strip().upper().partition(":")
        try:
            action = TaskAction(action_name.strip())
        except ValueError:
            known = ", ".join(TaskAction)
            raise ValueError(f"price key {key!r}: unknown action; one of {known}") from None
        if not colon:
            return (action, None)
        try:
            return (action, Mode(mode_name.strip()))
        except ValueError:
            known = ", ".join(Mode)
            raise ValueError(f"price key {key!r}: unknown mode; one of {known}") from None

    @classmethod
    def canonical_key(cls, key: str) -> str:
        """``imagine:relax`` → ``IMAGINE:RELAX``; ValueError with a sentence for bad keys."""
        action, mode = cls.parse_key(key)
        return action.value if mode is None else f"{action.value}:{mode.value}"

    def with_overrides(self, extra: Mapping[str, int]) -> PriceList:
        """These prices with ``extra`` on top (a key in both: ``extra`` wins)."""
        if not extra:
            return self
        merged = {self.canonical_key(key): price for key, price in self.overrides.items()}
        merged.update({self.canonical_key(key): price for key, price in extra.items()})
        return PriceList(merged)

    def price_of(self, action: TaskAction, mode: Mode) -> int:
        for key in ((action, mode), (action, None)):
            if key in self._by_key:
                return self._by_key[key]
        return default_price(action, mode)

    def table(self) -> list[tuple[TaskAction, Mode, int]]:
        """Every action in every mode with its price, in declaration order."""
        return [
            (action, mode, self.price_of(action, mode)) for action in TaskAction for mode in Mode
        ]
