"""Numbers in the words an agent or a customer reads: counts, money and periods.

The explanations of the customer scores (:meth:`ChurnModel.explain
<analytics.customers.churn.model.ChurnModel.explain>`) and the loyalty progress
(:func:`tier_progress`) are shown as they are in the agents' console and the bot,
so they say "1 order", "£1,250 spent" and "the last 6 months", never "1 order(s)",
"1250.00" or "180 days". This module imports nothing heavy: the chat's use cases
call it.
"""

from __future__ import annotations

from typing import Optional

_DAYS_PER_MONTH = 30
_DAYS_PER_WEEK = 7
_DAYS_PER_YEAR = 365


def count(n: int, singular: str, plural: Optional[str] = None) -> str:
    """``n`` things, with the noun agreeing and thousands separated.

    Examples
    --------
    >>> count(1, "order"), count(0, "order"), count(1200, "order"), count(3, "category", "categories")
    ('1 order', '0 orders', '1,200 orders', '3 categories')
    """
    word = singular if n == 1 else (plural or f"{singular}s")
    return f"{n:,} {word}"


def money(amount: float) -> str:
    """Pounds with thousands separators; pence only when the amount has some.

    Examples
    --------
    >>> money(0), money(1250), money(12.5), money(1234.567), money(-3)
    ('£0', '£1,250', '£12.50', '£1,234.57', '-£3')
    """
    pence = round(abs(amount) * 100)
    sign = "-" if amount < 0 and pence else ""
    if pence % 100 == 0:
        return f"{sign}£{pence // 100:,}"
    return f"{sign}£{pence / 100:,.2f}"


def _unit(days: int) -> tuple[int, str]:
    for length, name in ((_DAYS_PER_YEAR, "year"), (_DAYS_PER_MONTH, "month"), (_DAYS_PER_WEEK, "week")):
        if days >= length and days % length == 0:
            return days // length, name
    return days, "day"


def period(days: int) -> str:
    """A number of whole days in the largest unit that divides it (30-day months, 7-day weeks).

    Examples
    --------
    >>> period(180), period(30), period(14), period(365), period(45), period(1)
    ('6 months', '1 month', '2 weeks', '1 year', '45 days', '1 day')
    """
    n, unit = _unit(days)
    return count(n, unit)


def ago(days: int) -> str:
    """How long ago, in whole days: 'today', 'yesterday', '2 weeks ago', '281 days ago'.

    Examples
    --------
    >>> ago(0), ago(1), ago(14), ago(281)
    ('today', 'yesterday', '2 weeks ago', '281 days ago')
    """
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{period(days)} ago"


def the_last(days: int) -> str:
    """'the last ...' for a window of whole days: 'the last month', 'the last 6 months'.

    Examples
    --------
    >>> the_last(30), the_last(90), the_last(10)
    ('the last month', 'the last 3 months', 'the last 10 days')
    """
    n, unit = _unit(days)
    return f"the last {unit}" if n == 1 else f"the last {count(n, unit)}"


def tier_progress(
    tier: str,
    next_tier: Optional[str],
    amount_to_next_tier: Optional[float],
    spend_in_window: float,
    window_days: int = 365,
) -> str:
    """What to tell a customer about their loyalty tier, naming the spend it rests on.

    Tiers follow the spend of a rolling window (a year) while points count
    every order ever placed, so a long-standing customer can be Bronze with
    thousands of points; saying which spend the tier is based on keeps the two
    from reading as a contradiction.

    Examples
    --------
    >>> tier_progress("Bronze", "Silver", 380.0, 120.0)
    '£120 spent in the last year; £380 more to reach Silver'
    >>> tier_progress("Platinum", None, None, 6250.5)
    '£6,250.50 spent in the last year keeps you at our top tier, Platinum'
    """
    spent = f"{money(spend_in_window)} spent in {the_last(window_days)}"
    if next_tier is None or amount_to_next_tier is None:
        return f"{spent} keeps you at our top tier, {tier}"
    return f"{spent}; {money(amount_to_next_tier)} more to reach {next_tier}"


__all__ = ["ago", "count", "money", "period", "the_last", "tier_progress"]
