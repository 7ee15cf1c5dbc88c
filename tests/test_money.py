"""Exact money in integer cents: conversion, shares, splits and accounts (clustersim.money)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clustersim.money import Account, eur_to_cents, eurs_to_cents, share_of, split_evenly

# Euro amounts the model meets: fees, tranches and call budgets, up to EUR 10 billion.
EUROS = st.floats(min_value=-1e10, max_value=1e10, allow_nan=False, allow_infinity=False)
CENTS = st.integers(min_value=-(10**15), max_value=10**15)
NON_NEGATIVE_CENTS = st.integers(min_value=0, max_value=10**18)
WEIGHTS = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(lambda w: sum(w) > 0)


# ------------------------------------------------------------------- eur_to_cents
@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_eur_to_cents_round_trips_whole_cents(cents: int) -> None:
    assert eur_to_cents(cents / 100) == cents


@given(EUROS)
def test_eur_to_cents_returns_an_int_within_half_a_cent(eur: float) -> None:
    cents = eur_to_cents(eur)
    assert type(cents) is int
    assert abs(cents - eur * 100) <= 0.5 + 1e-6


@given(EUROS)
def test_eur_to_cents_is_symmetric_about_zero(eur: float) -> None:
    assert eur_to_cents(-eur) == -eur_to_cents(eur)


@given(EUROS, EUROS)
def test_eur_to_cents_is_monotone(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert eur_to_cents(lo) <= eur_to_cents(hi)


@pytest.mark.parametrize(
    ("eur", "cents"),
    [(0.125, 13), (-0.125, -13), (0.375, 38), (-0.375, -38), (0.0, 0), (5_000_000.0, 500_000_000)],
)
def test_eur_to_cents_rounds_exact_halves_away_from_zero(eur: float, cents: int) -> None:
    # these euro amounts are exact binary fractions, so the half cent is a true half
    assert eur_to_cents(eur) == cents


@pytest.mark.parametrize(
    ("eur", "cents"),
    [(1.005, 101), (-1.005, -101), (0.285, 29), (0.004999999999999999, 0)],
)
def test_eur_to_cents_rounds_the_written_amount_half_away_from_zero(eur: float, cents: int) -> None:
    # A configured amount is written in decimal: "1.005" EUR is 100.5 cents, rounded to 101.
    assert eur_to_cents(eur) == cents


@pytest.mark.parametrize("eur", [float("inf"), float("-inf"), float("nan")])
def test_eur_to_cents_refuses_a_non_finite_amount(eur: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        eur_to_cents(eur)


# ----------------------------------------------------------------------- share_of
@given(NON_NEGATIVE_CENTS, st.integers(min_value=0, max_value=10**8))
def test_share_of_is_exact_for_shares_in_steps_of_1e8(cents: int, k: int) -> None:
    # floats would lose the last digits of 10**18 cents; the integer result must not
    assert share_of(cents, k / 10**8) == cents * k // 10**8


@given(NON_NEGATIVE_CENTS, st.floats(min_value=0.0, max_value=1.0))
def test_share_of_lies_between_nothing_and_everything(cents: int, share: float) -> None:
    part = share_of(cents, share)
    assert type(part) is int
    assert 0 <= part <= cents
    exact = Fraction(cents) * Fraction(round(share * 10**8), 10**8)
    assert part == math.floor(exact)


@given(NON_NEGATIVE_CENTS, st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_share_of_is_monotone_in_the_share(cents: int, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert share_of(cents, lo) <= share_of(cents, hi)


@given(NON_NEGATIVE_CENTS)
def test_share_of_zero_and_one(cents: int) -> None:
    assert share_of(cents, 0.0) == 0
    assert share_of(cents, 1.0) == cents


def test_share_of_a_large_amount_keeps_every_cent() -> None:
    cents = 2**60 + 1  # float(cents) == 2**60: a float product would drop the last cent
    assert share_of(cents, 0.5) == (2**60) // 2
    assert share_of(cents, 0.3) == cents * 3 // 10


# ------------------------------------------------------------------- split_evenly
@given(CENTS, WEIGHTS)
def test_split_evenly_sums_exactly(cents: int, weights: list[int]) -> None:
    parts = split_evenly(cents, weights)
    assert len(parts) == len(weights)
    assert all(type(p) is int for p in parts)
    assert sum(parts) == cents


@given(CENTS, WEIGHTS)
def test_split_evenly_gives_each_its_share_to_the_cent(cents: int, weights: list[int]) -> None:
    total = sum(weights)
    for part, w in zip(split_evenly(cents, weights), weights, strict=True):
        floor = cents * w // total
        assert floor <= part <= floor + 1
        if w == 0:
            assert part == 0


@given(NON_NEGATIVE_CENTS, st.integers(min_value=1, max_value=50))
def test_split_evenly_equal_weights_differ_by_at_most_a_cent(cents: int, n: int) -> None:
    parts = split_evenly(cents, [1] * n)
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the extra cents go to the first in line


@pytest.mark.parametrize("weights", [[], [0], [0, 0, 0]])
def test_split_evenly_refuses_weights_without_a_positive_sum(weights: list[int]) -> None:
    with pytest.raises(ValueError, match="positive sum"):
        split_evenly(100, weights)


# ------------------------------------------------------------------------ Account
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("allocate"), st.integers(0, 10**12), st.booleans()),
        st.tuples(st.just("spend"), st.integers(-(10**12), 10**12), st.booleans()),
        st.tuples(st.just("transfer"), st.one_of(st.none(), st.integers(-(10**12), 10**12)), st.booleans()),
    ),
    max_size=40,
)


@given(OPERATIONS)
def test_accounts_never_go_negative_balance_and_conserve_money(ops: list[tuple]) -> None:
    a, b = Account("a", "cmo"), Account("b", "cmo")
    paid_in = spent = 0
    for op, amount, first in ops:
        src, dst = (a, b) if first else (b, a)
        before = src.balance
        if op == "allocate":
            src.allocate(amount)
            paid_in += amount
        elif op == "spend":
            done = src.spend(amount)
            assert done == max(0, min(amount, before))
            spent += done
        else:
            moved = src.transfer_to(dst, amount)
            assert moved == (before if amount is None else max(0, min(amount, before)))
        for acc in (a, b):
            acc.check()
            assert min(acc.allocated, acc.spent, acc.transferred_out, acc.balance) >= 0
            assert acc.allocated == acc.spent + acc.transferred_out + acc.balance
        # nothing is created or lost: what came in was spent or sits in a balance
        assert paid_in == spent + a.balance + b.balance
        assert a.spent + b.spent == spent


def test_account_refuses_a_negative_allocation() -> None:
    acc = Account("region", "region", allocated=100)
    with pytest.raises(ValueError, match="negative"):
        acc.allocate(-1)
    assert acc.allocated == 100


def test_account_spends_no_more_than_its_balance() -> None:
    acc = Account("call", "call")
    acc.allocate(1_000)
    assert acc.spend(400) == 400
    assert acc.spend(700) == 600
    assert acc.spend(1) == 0
    assert (acc.allocated, acc.spent, acc.balance) == (1_000, 1_000, 0)


def test_transfer_moves_the_whole_balance_by_default() -> None:
    old, heir = Account("cmo:twelve/ict", "cmo"), Account("cmo:seven/ict", "cmo")
    old.allocate(12_345)
    old.spend(45)
    assert old.transfer_to(heir) == 12_300
    assert (old.balance, old.transferred_out, heir.allocated, heir.balance) == (0, 12_300, 12_300, 12_300)


@pytest.mark.parametrize(
    "broken",
    [
        Account("x", "cmo", allocated=10, spent=11),
        Account("x", "cmo", allocated=10, transferred_out=11),
        Account("x", "cmo", allocated=-1),
    ],
)
def test_account_check_catches_a_broken_account(broken: Account) -> None:
    with pytest.raises(AssertionError, match="negative"):
        broken.check()


@given(
    st.lists(st.floats(-1e13, 1e13, allow_nan=False) | st.sampled_from([1.005, 0.125, -2.675, 9.995e9]), max_size=20)
)
def test_many_amounts_convert_as_one_by_one(amounts: list[float]) -> None:
    assert eurs_to_cents(np.array(amounts, dtype=np.float64)) == [eur_to_cents(x) for x in amounts]
