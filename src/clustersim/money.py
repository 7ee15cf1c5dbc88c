"""Exact euro accounting in integer cents.

Every account keeps ``allocated = spent + transferred_out + balance`` exactly, in Python
integers (never floats), and refuses to go negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

_FAST_BELOW = 1e12  # cents: below this, 100 x the written amount is within 0.00023 of the float product
_NEAR_HALF = 0.001  # a fraction of a cent this close to one half is rounded in decimal arithmetic


def eur_to_cents(eur: float) -> int:
    """Convert a configured euro amount to integer cents, rounded half away from zero.

    The amount is read as written (its shortest decimal representation, so 1.005 is
    1.005 and not 1.00499999...), then rounded in decimal arithmetic. The float product
    ``100 x eur`` gives the same integer, faster, whenever its fraction is more than
    0.001 from one half: below 1e12 cents it and 100 x the written amount differ by less
    than 0.00023 (the float and the written amount differ by at most 2**-53 of it, and so
    do the product and 100 x the float), too little to cross a half cent.
    """
    if not math.isfinite(eur):
        raise ValueError(f"not a finite amount: {eur!r}")
    eur = float(eur)
    scaled = abs(eur * 100.0)
    if scaled < _FAST_BELOW:
        whole = math.floor(scaled)
        frac = scaled - whole
        if abs(frac - 0.5) > _NEAR_HALF:
            cents = whole + (frac > 0.5)
            return cents if eur >= 0.0 else -cents
    return _written_cents(eur)


def _written_cents(eur: float) -> int:
    """:func:`eur_to_cents` of a finite float in decimal arithmetic (its slow path)."""
    return int((Decimal(repr(eur)) * 100).quantize(_ONE, rounding=ROUND_HALF_UP))


_ONE = Decimal(1)


def eurs_to_cents(eur: np.ndarray) -> list[int]:
    """:func:`eur_to_cents` of each amount: its fast path in NumPy (the same float operations), the rest one by one."""
    scaled = eur * 100.0
    np.abs(scaled, out=scaled)
    whole = np.floor(scaled)
    frac = scaled - whole
    off_half = frac - 0.5
    np.abs(off_half, out=off_half)
    if not (scaled.max(initial=0.0) < _FAST_BELOW and off_half.min(initial=1.0) > _NEAR_HALF):
        # some amount (or a NaN, an infinity) not on the fast path: the fast ones masked
        fast = (scaled < _FAST_BELOW) & (off_half > _NEAR_HALF)
        whole = np.where(fast, whole, 0.0)
    else:
        fast = None
    cents = whole.astype(np.int64)
    cents += frac > 0.5
    np.negative(cents, out=cents, where=eur < 0.0)  # -cents where not eur >= 0.0 (a NaN is not fast)
    out = cents.tolist()
    if fast is not None:
        for i in (~fast).nonzero()[0].tolist():
            x = float(eur.item(i))
            out[i] = _written_cents(x) if math.isfinite(x) else eur_to_cents(x)  # (which refuses it)
    return out


SHARE_UNIT = 100_000_000  # shares are counted in basis points of a basis point (1e-8)


def share_units(share: float) -> int:
    """``share`` rounded to whole :data:`SHARE_UNIT` parts: :func:`share_of` is ``cents * units // SHARE_UNIT``."""
    return round(share * SHARE_UNIT)


def share_of(cents: int, share: float) -> int:
    """Return ``floor(cents * share)`` for a share in [0, 1], exactly, in cents.

    The share is first rounded to basis points of a basis point (1e-8), so that the
    product is an exact integer computation.
    """
    return (cents * share_units(share)) // SHARE_UNIT


def split_evenly(cents: int, weights: list[int]) -> list[int]:
    """Split ``cents`` over integer weights by largest remainders; parts sum to ``cents``."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    base = [cents * w // total for w in weights]
    rest = cents - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(cents * weights[i] % total), i))
    for i in order[:rest]:
        base[i] += 1
    return base


@dataclass
class Account:
    """One money account (the Region's budget line, a CMO, a call)."""

    name: str
    kind: str
    allocated: int = 0
    spent: int = 0
    transferred_out: int = 0

    @property
    def balance(self) -> int:
        """Cents allocated and neither spent nor transferred."""
        return self.allocated - self.spent - self.transferred_out

    def allocate(self, cents: int) -> None:
        """Add money to the account."""
        if cents < 0:
            raise ValueError(f"{self.name}: cannot allocate a negative amount")
        self.allocated += cents

    def spend(self, cents: int) -> int:
        """Spend up to ``cents`` from the balance; return what was spent."""
        amount = int(cents)
        balance = self.allocated - self.spent - self.transferred_out  # self.balance, read once
        if amount > balance:  # max(0, min(cents, balance)), without the builtins' calls
            amount = balance
        if amount < 0:
            amount = 0
        self.spent += amount
        return amount

    def transfer_to(self, other: Account, cents: int | None = None) -> int:
        """Move ``cents`` (default: the whole balance) to another account."""
        amount = self.balance if cents is None else max(0, min(int(cents), self.balance))
        self.transferred_out += amount
        other.allocate(amount)
        return amount

    def check(self) -> None:
        """Raise if the account's identity fails or any amount is negative."""
        if min(self.allocated, self.spent, self.transferred_out, self.balance) < 0:
            raise AssertionError(f"negative amount in account {self.name}")
        if self.allocated != self.spent + self.transferred_out + self.balance:
            raise AssertionError(f"account {self.name} does not balance")
