"""What the assistant can do, each as a thin handler: call a service, pick a response from ``domain.yml``.

A handler runs once the dialogue (:mod:`actions.dialogue.manager`) has every
detail it needs, already resolved (the customer's own order, the product).
It returns what the conversation should remember: the order or product it
was about, a yes/no question it asked, an offer it showed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import date
from typing import Any, Optional

from actions.base import bullet_list, day, money
from actions.dialogue.context import Context, button
from analytics.core.errors import InvalidInput, NotAllowed, NotFound, NotScored, OrderNotFound
from analytics.security.throttle import TooManyAttempts
from analytics.usecases import (
    addresses,
    forecasts,
    identity,
    insights,
    next_purchase,
    orders,
    privacy,
    recommendations,
    returns,
    support,
)
from analytics.usecases.catalogue_search import Listing
from analytics.usecases.forecasts import NextOrderView, ReorderView
from analytics.usecases.orders import OrderDetail, OrderSummary
from analytics.usecases.recommendations import ProductSuggestion, SuggestionList

Memory = dict[str, Any]


# --------------------------------------------------------------------------- orders


def order_status(ctx: Context, order: OrderDetail) -> Memory:
    ctx.say(
        f"utter_order_{order.status}",
        order_number=order.number,
        placed_on=day(order.placed_at),
        items=order.item_count,
        carrier=order.carrier or "our courier",
        tracking_number=order.tracking_number or "not yet available",
        eta=day(order.estimated_delivery),
        delivered_on=day(order.delivered_at),
    )
    return {"order": order.number}


def track_order(ctx: Context, order: OrderDetail) -> Memory:
    if order.status == "cancelled":
        ctx.say("utter_order_cancelled", order_number=order.number, placed_on=day(order.placed_at))
    elif order.tracking_number and order.status != "processing":
        ctx.say(
            "utter_tracking",
            order_number=order.number,
            carrier=order.carrier or "our courier",
            tracking_number=order.tracking_number,
        )
    else:
        ctx.say("utter_tracking_not_yet", order_number=order.number)
    return {"order": order.number}


def delivery_window(earliest: Optional[date], latest: Optional[date], most_likely: Optional[date]) -> str:
    """ "on Tuesday 8 December 2026", or "between ... and ..., most likely ..." for a window."""
    if earliest is None or latest is None or earliest == latest:
        return f"on {day(most_likely or earliest or latest)}"
    text = f"between {day(earliest)} and {day(latest)}"
    if most_likely is not None and most_likely not in (earliest, latest):
        text += f", most likely {day(most_likely)}"
    return text


def delivery_estimate(ctx: Context, order: OrderDetail) -> Memory:
    assert ctx.customer_id is not None
    estimate = forecasts.delivery_estimate(ctx.uow(), order.number, customer_id=ctx.customer_id)
    if estimate.delivered_at is not None:
        ctx.say("utter_delivery_done", order_number=estimate.number, delivered_on=day(estimate.delivered_at))
    elif estimate.most_likely is None:
        ctx.say("utter_delivery_none", order_number=estimate.number)
    else:
        # "is my order on the way? and when will it arrive": where it is, then when it comes
        progress = {"shipped": "is on its way and", "processing": "is being prepared and"}.get(order.status, "")
        ctx.say(
            "utter_delivery_window",
            order_number=estimate.number,
            progress=progress,
            window=delivery_window(estimate.earliest, estimate.latest, estimate.most_likely),
            basis=estimate.basis,
        )
    return {"order": estimate.number}


def order_line(summary: OrderSummary) -> str:
    return (
        f"{summary.number}: {summary.status}, placed {day(summary.placed_at)}, "
        f"{summary.item_count} items, £{money(summary.total)}"
    )


def list_orders(ctx: Context) -> Memory:
    assert ctx.customer_id is not None
    recent = orders.list_orders(ctx.uow(), ctx.customer_id, limit=5)
    if not recent:
        ctx.say("utter_no_orders")
        return {}
    ctx.say("utter_orders_list", orders=bullet_list(order_line(o) for o in recent))
    return {"listed_orders": [o.number for o in recent]}  # "the second one" means one of these


def cancel_order(ctx: Context, order: OrderDetail, *, confirmed: bool) -> Memory:
    """Ask yes/no naming the order; with ``confirmed``, cancel exactly that order."""
    assert ctx.customer_id is not None
    if order.status != "processing":
        if order.status == "cancelled":
            reason = f"Order {order.number} is already cancelled."
        else:
            reason = (
                f"Order {order.number} has already {'shipped' if order.status == 'shipped' else 'been delivered'}, "
                "so it can't be cancelled any more, but you can return it once it arrives: just say "
                '"I want to return an item".'
            )
        ctx.say("utter_cannot_cancel", reason=reason)
        return {"order": order.number}
    if not confirmed:
        ctx.say("utter_confirm_cancel", order_number=order.number, items=order.item_count, total=money(order.total))
        return {"order": order.number, "confirm": {"what": "cancel", "order": order.number}}
    try:
        result = orders.cancel_order(ctx.uow(), ctx.customer_id, order.number)
    except NotAllowed as refused:
        ctx.say("utter_cannot_cancel", reason=str(refused))
        return {"order": order.number}
    ctx.say("utter_order_cancelled_now", order_number=order.number, refund=money(result.refund_total))
    return {"order": order.number}


def request_return(ctx: Context, order: OrderDetail, sku: str, reason: str, quantity: Optional[int]) -> Memory:
    assert ctx.customer_id is not None
    try:
        created = returns.request_return(ctx.uow(), ctx.customer_id, order.number, sku, reason, quantity=quantity)
    except OrderNotFound:
        ctx.say("utter_order_not_found", order_number=order.number)
        return {}
    except (NotAllowed, InvalidInput, NotFound) as refused:
        ctx.say("utter_cannot_return", reason=str(refused))
        return {"order": order.number}
    ctx.say(
        "utter_return_created",
        return_id=created.return_id,
        quantity=created.quantity,
        product=created.product_name,
        refund=money(created.refund_amount),
        next_steps=created.next_steps,
    )
    return {"order": order.number, "product": created.sku}


def change_address(ctx: Context, order: OrderDetail, address: str) -> Memory:
    assert ctx.customer_id is not None
    try:
        changed = addresses.change_address(ctx.uow(), ctx.customer_id, order.number, address)
    except (NotAllowed, InvalidInput) as refused:
        ctx.say("utter_cannot_change_address", reason=str(refused))
        return {"order": order.number}
    ctx.say("utter_address_changed", order_number=order.number, address=changed.address)
    return {"order": order.number}


# --------------------------------------------------------------------------- products


def _cards(items: Sequence[ProductSuggestion]) -> dict[str, Any]:
    """Product cards for channels that show them (the web chat); text channels use the list."""
    return {
        "products": [
            {"sku": s.sku, "name": s.name, "price": round(s.price, 2), "category": s.category, "reason": s.reason}
            for s in items
        ]
    }


def _show(ctx: Context, response: str, suggestions: SuggestionList, **variables: Any) -> bool:
    if not suggestions.items:
        return False
    lines = [f"{s.name} — £{money(s.price)} ({s.reason})" for s in suggestions.items]
    ctx.say(response, items=bullet_list(lines), **variables)
    ctx.show(_cards(suggestions.items))
    return True


def recommend(ctx: Context, *, max_price: Optional[float], category: Optional[str], mentioned: Sequence[str]) -> Memory:
    try:
        suggestions = recommendations.recommend_for(
            ctx.uow(), ctx.customer_id, n=5, max_price=max_price, category=category, mentioned_skus=mentioned
        )
    except InvalidInput:
        suggestions = recommendations.recommend_for(ctx.uow(), ctx.customer_id, n=5)
    start = len(ctx.replies)
    line = None if ctx.customer_id is None else next_purchase.next_purchase_line(ctx.uow(), ctx.customer_id)
    if line is not None:  # four ideas and the line: the answer stays short enough to read in a chat
        suggestions = SuggestionList(suggestions.items[:4], suggestions.note)
    shown = _show(ctx, "utter_recommendations", suggestions)
    if line is None:
        if not shown:
            ctx.say("utter_no_suggestions")
    elif shown:
        _add_below_the_list(ctx.replies[start:], line)
    else:
        ctx.say("utter_recommendations", items=line)
    return {}


def _add_below_the_list(replies: list[dict[str, Any]], line: str) -> None:
    """What customers who bought the same went on to buy, said under the recommendations (one message, no
    response of its own: the Rasa model's domain need not change)."""
    for reply in replies:
        if reply.get("response") == "utter_recommendations":
            reply["items"] = f"{reply['items']}\n\n{line}"
            return


def _kind_label(products: Sequence[Listing]) -> str:
    return products[0].name if len(products) == 1 else f"{products[0].name} and similar"


def similar_products(ctx: Context, products: Sequence[Listing], *, cheaper: bool = False) -> Memory:
    """Products like one product, or like a kind of product (``products`` best known first);
    ``cheaper``: only those that cost less than it ("bit pricey, anything like it that's cheaper")."""
    seed = products[0]
    suggestions = recommendations.similar_to(seed.sku, n=40 if cheaper else 8)
    chosen = {p.sku for p in products}
    items = [s for s in suggestions.items if s.sku not in chosen and (not cheaper or s.price < seed.price)]
    kept = SuggestionList(items[:5], suggestions.note)
    if cheaper:
        if not _show(ctx, "utter_similar_cheaper", kept, product=seed.name, price=money(seed.price)):
            ctx.say("utter_no_cheaper", product=seed.name, price=money(seed.price))
    elif not _show(ctx, "utter_similar", kept, product=_kind_label(products)):
        ctx.say("utter_no_suggestions")
    return {"product": seed.sku}


def bought_together(ctx: Context, products: Sequence[Listing]) -> Memory:
    """What customers often buy with a product (or a kind of product); similar ones, said as such, when none."""
    chosen = {p.sku for p in products}
    found: dict[str, ProductSuggestion] = {}
    for product in products[:3]:
        with contextlib.suppress(NotFound, InvalidInput):
            for s in recommendations.bought_together([product.sku], n=5).items:
                if s.sku not in chosen:
                    found.setdefault(s.sku, s)
    together = SuggestionList(list(found.values())[:5])
    if _show(ctx, "utter_bought_together", together, product=_kind_label(products)):
        return {"product": products[0].sku}
    similar = recommendations.similar_to(products[0].sku, n=8)
    kept = SuggestionList([s for s in similar.items if s.sku not in chosen][:5])
    if not _show(ctx, "utter_similar_instead", kept, product=_kind_label(products)):
        ctx.say("utter_no_suggestions")
    return {"product": products[0].sku}


def product_line(item: Listing) -> str:
    stock = "" if item.in_stock else " (not available)"
    return f"{item.name} — £{money(item.price)}{stock}"


def product_info(ctx: Context, item: Listing) -> Memory:
    ctx.say(
        "utter_product_info",
        name=item.name,
        sku=item.sku,
        price=money(item.price),
        availability="in stock" if item.in_stock else "not available any more",
    )
    return {"product": item.sku}


def products_of_kind(ctx: Context, items: Sequence[Listing], pool: Sequence[str] = ()) -> Memory:
    """ "Do you sell christmas lights?": yes, with a short list and prices.

    ``pool``: the SKUs of every product of the kind (the list shows a few), so
    "how much is the strawberry one" next can pick any of them.
    """
    ctx.say("utter_products_of_kind", items=bullet_list(product_line(i) for i in items))
    ctx.show(
        {
            "products": [
                {"sku": i.sku, "name": i.name, "price": float(i.price), "category": i.category, "reason": ""}
                for i in items
            ]
        }
    )
    return {"shown": list(dict.fromkeys([*(i.sku for i in items), *pool]))[:40]}


def which_product(ctx: Context, items: Sequence[Listing]) -> Memory:
    """Several products fit equally: list them (with prices) and ask which."""
    ctx.say(
        "utter_which_product",
        items=bullet_list(product_line(i) for i in items),
        buttons=[button(i.name, "inform", product=i.sku) for i in items],
    )
    return {
        "choices": {"for": "product", "options": [{"value": i.sku, "label": i.name} for i in items]},
        "shown": [i.sku for i in items],
    }


# --------------------------------------------------------------------------- account


def loyalty_status(ctx: Context) -> Memory:
    assert ctx.customer_id is not None
    try:
        view = insights.loyalty_status(ctx.uow(), ctx.customer_id)
    except NotScored:
        ctx.say("utter_not_scored")
        return {}
    ctx.say("utter_loyalty_status", tier=view.tier, points=f"{view.points:,}", progress=view.progress_message)
    return {}


def show_offer(ctx: Context) -> Memory:
    assert ctx.customer_id is not None
    try:
        decision = insights.best_offer(ctx.uow(), ctx.customer_id)
    except NotScored:
        decision = None
    if decision is None or not decision.shown:
        ctx.say("utter_no_offer")
        return {"offer": None}
    insights.offer_shown(ctx.uow(), ctx.customer_id, decision.code)
    ctx.say("utter_offer", offer=decision.name, description=decision.description, reason=decision.reason)
    return {"offer": decision.code, "confirm": {"what": "offer", "offer": decision.code}}


def accept_offer(ctx: Context, code: Optional[str]) -> Memory:
    assert ctx.customer_id is not None
    if not code:
        ctx.say("utter_no_offer_to_accept")
        return {}
    try:
        insights.offer_accepted(ctx.uow(), ctx.customer_id, code)
    except NotFound:
        ctx.say("utter_no_offer_to_accept")
        return {"offer": None}
    ctx.say("utter_offer_applied", offer=code)
    return {}


def _weeks(days: Optional[float]) -> str:
    if days is None:
        return "now and then"
    if days < 10:
        return f"every ~{round(days)} days"
    return f"every ~{round(days / 7)} weeks"


def _when(value: Optional[date]) -> str:
    return day(value) if value else "soon"


def reorder_line(view: ReorderView) -> str:
    name = view.product_name
    if view.due is None and view.expected is None:
        return f"{name}: {view.basis}."
    timing = "you're due now" if view.overdue else f"next around {_when(view.expected or view.due)}"
    return f"{name}: you usually reorder {_weeks(view.typical_interval_days)}; {timing} ({view.basis})."


def next_order_text(view: NextOrderView) -> str:
    if view.expected_next_order is None:
        return "I can't predict your next order yet: there isn't enough order history on your account."
    text = f"Based on your orders ({view.basis}), your next order would be around {_when(view.expected_next_order)}"
    if view.window_start and view.window_end and view.window_start != view.window_end:
        text += f" (between {_when(view.window_start)} and {_when(view.window_end)})"
    text += "."
    if view.expected_orders_90d is not None:
        text += f" We expect about {view.expected_orders_90d:.1f} orders from you in the next 90 days."
    return text


def reorder_when(ctx: Context, product_words: Optional[str]) -> Memory:
    assert ctx.customer_id is not None
    try:
        advice = forecasts.reorder_advice(ctx.uow(), ctx.customer_id, product=product_words, limit=3)
    except (NotFound, InvalidInput):
        if product_words:
            ctx.say("utter_product_not_bought", product=product_words)
            return {}
        advice = []
    if not advice:
        ctx.say("utter_no_reorder_history")
        return {}
    ctx.say("utter_reorder_advice", advice=bullet_list(reorder_line(a) for a in advice))
    return {}


def next_order_due(ctx: Context) -> Memory:
    assert ctx.customer_id is not None
    ctx.say("utter_next_order", advice=next_order_text(forecasts.next_order(ctx.uow(), ctx.customer_id)))
    return {}


def privacy_data(ctx: Context) -> Memory:
    assert ctx.customer_id is not None
    summary = privacy.data_summary(ctx.uow(), ctx.customer_id)
    ctx.say("utter_data_summary", summary=bullet_list(summary.lines()))
    return {}


def delete_data(ctx: Context, *, confirmed: bool) -> Memory:
    assert ctx.customer_id is not None
    if not confirmed:
        ctx.say("utter_confirm_delete")
        return {"confirm": {"what": "delete"}}
    request = privacy.request_deletion(ctx.uow(), ctx.customer_id, channel=ctx.channel)
    ctx.say(
        "utter_deletion_already_requested" if request.existing else "utter_deletion_requested", request_id=request.id
    )
    return {}


# --------------------------------------------------------------------------- people


def greet(ctx: Context) -> Memory:
    name = ctx.customer_name
    if ctx.customer_id is not None and not name:
        try:
            name = identity.customer_name(ctx.uow(), ctx.customer_id)
        except Exception:  # a greeting never fails: greet without the name
            name = None
    if name:
        ctx.customer_name = name
        ctx.say("utter_greet_known", name=name.split()[0])
    else:
        ctx.say("utter_greet")
    return {}


def handoff(ctx: Context, reason: str) -> Memory:
    """Record the handoff, tell the customer, pause the bot (a person answers from the console)."""
    import logging

    try:
        support.request_handoff(
            ctx.uow(),
            sender_id=ctx.sender_id,
            channel=ctx.channel,
            customer_id=ctx.customer_id,
            reason=reason,
            now=ctx.now,
            attempts=ctx.handoff_attempts,
            client=ctx.client,
            queue_max=ctx.handoff_queue_max,
        )
    except TooManyAttempts as exc:  # this client asked for a person too often: the bot stays
        ctx.say("utter_handoff_too_many", minutes=max(1, -(-exc.retry_after // 60)))
        return {}
    except support.QueueFull:  # every agent has more than enough waiting: the bot stays
        ctx.say("utter_handoff_busy")
        return {}
    except Exception:
        # a person must still get the conversation; the console also lists paused conversations
        logging.getLogger(__name__).exception("could not record the handoff of %s", ctx.sender_id)
    ctx.replies.append({"response": "utter_handoff", "json_message": {"handoff": {"reason": reason}}})
    ctx.events.append({"event": "pause"})
    return {}
