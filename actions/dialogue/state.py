"""What the assistant remembers between the turns of a conversation.

One slot, ``dialogue`` (Rasa slot type ``any``), holds it as a JSON object, so
the whole conversation state is in one place, travels with the tracker (a
restart or a second Rasa worker continues where the first stopped) and can be
read in a test:

``task``
    The request being worked on while the bot waits for a detail: its name
    (the capability, e.g. ``return_request``), the details known so far, the
    detail it asked for (``asked``) and how many answers missed (``tries``).
``confirm``
    A yes/no question the bot asked, with exactly what "yes" will do
    (``{"what": "cancel", "order": "581580"}``): a "yes" later always acts on
    what was asked, never on what a slot happens to hold then.
``choices``
    Options the bot listed ("which order?", "which one do you mean?") for a
    detail of the task.
``last``
    The last request answered, for follow-ups and corrections ("and
    581473?", "sorry, I meant 581473"); after a second question about the
    same order ("where is it?", then "when will it arrive?") its ``topic`` is
    the first, which a follow-up about another order asks again.
``order`` / ``product``
    The order number and product SKU talked about last (what "it" means).
``orders``
    The order numbers of the last answer about several orders at once (what
    "both" or "all of them" means).
``fallbacks``
    Messages in a row the bot did not understand.
``identity_failures``
    Wrong e-mail/order-number pairs in this conversation.
``offer``
    The code of the offer the bot showed last (what "apply it" means).
``shown``
    The SKUs of the products the bot listed last, and of the rest of their kind
    ("the santas ones" picks among them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

SLOT = "dialogue"


@dataclass
class Task:
    """A request and what is known of it."""

    name: str
    details: dict[str, Any] = field(default_factory=dict)
    asked: Optional[str] = None
    tries: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> Optional[Task]:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        details = data.get("details")
        try:
            tries = int(data.get("tries") or 0)
        except (TypeError, ValueError, OverflowError):
            tries = 0
        return cls(
            name=data["name"],
            details=dict(details) if isinstance(details, dict) else {},
            asked=data.get("asked") if isinstance(data.get("asked"), str) else None,
            tries=tries,
        )


@dataclass
class DialogueState:
    task: Optional[Task] = None
    confirm: Optional[dict[str, Any]] = None
    choices: Optional[dict[str, Any]] = None
    last: Optional[Task] = None
    order: Optional[str] = None
    product: Optional[str] = None
    orders: list[str] = field(default_factory=list)
    fallbacks: int = 0
    identity_failures: int = 0
    offer: Optional[str] = None
    shown: list[str] = field(default_factory=list)

    @classmethod
    def from_slot(cls, value: Any) -> DialogueState:
        """The state stored in the slot (a fresh state for anything malformed)."""
        if not isinstance(value, dict):
            return cls()

        def text(key: str) -> Optional[str]:
            found = value.get(key)
            return str(found) if isinstance(found, (str, int)) and str(found) else None

        def mapping(key: str) -> Optional[dict[str, Any]]:
            found = value.get(key)
            return dict(found) if isinstance(found, dict) else None

        def listed(key: str) -> list[Any]:
            found = value.get(key)
            return list(found) if isinstance(found, list) else []

        def count(key: str) -> int:
            try:
                return max(0, int(value.get(key) or 0))
            except (TypeError, ValueError, OverflowError):
                return 0

        return cls(
            task=Task.from_dict(value.get("task")),
            confirm=mapping("confirm"),
            choices=mapping("choices"),
            last=Task.from_dict(value.get("last")),
            order=text("order"),
            product=text("product"),
            orders=[str(x) for x in listed("orders") if isinstance(x, (str, int))][:5],
            fallbacks=count("fallbacks"),
            identity_failures=count("identity_failures"),
            offer=text("offer"),
            shown=[str(x) for x in listed("shown") if isinstance(x, (str, int))][:40],
        )

    def to_slot(self) -> dict[str, Any]:
        return asdict(self)
