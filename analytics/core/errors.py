"""Domain errors. Services raise these; the edges (actions, CLI, HTTP) turn them
into a bot response, an exit code or a status."""

from __future__ import annotations


class CRMError(Exception):
    """Base class of every error the analytics package raises on purpose."""


class NotFound(CRMError):
    """A customer, product or order that the store does not hold."""


class OrderNotFound(NotFound):
    def __init__(self, number: str) -> None:
        super().__init__(f"No order with number {number!r} is in the store.")
        self.number = number


class CustomerNotFound(NotFound):
    def __init__(self, customer: object) -> None:
        super().__init__(f"No customer {customer!r} is in the store.")
        self.customer = customer


class ProductNotFound(NotFound):
    def __init__(self, query: str) -> None:
        super().__init__(f"No product matching {query!r} is in the catalog.")
        self.query = query


class NotAllowed(CRMError):
    """A request the shop's rules refuse (e.g. cancelling an order that has shipped);
    the message says why."""


class NotScored(NotFound):
    """The customer has no analytics scores yet (no refresh has run since their first order)."""

    def __init__(self, customer_id: int) -> None:
        super().__init__(
            f"Customer {customer_id} has no analytics scores yet; run `crm analytics refresh` after importing data."
        )
        self.customer_id = customer_id


class IdentityNotVerified(CRMError):
    """The details given do not identify a customer (the message never says which part was wrong)."""

    def __init__(self) -> None:
        super().__init__("These details do not match a customer of the shop.")


class InvalidInput(CRMError):
    """Input that cannot be used; the message says what to fix."""


class ImportFileError(InvalidInput):
    """A data file that cannot be imported. ``line`` is the 1-based line in the
    file (the header is line 1) when the problem is in one row."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class NotFittedError(CRMError, ValueError, AttributeError):
    """An estimator was used before ``fit``. Same bases as scikit-learn's, so
    code that catches theirs catches ours."""

    def __init__(self, estimator: object) -> None:
        super().__init__(f"This {type(estimator).__name__} is not fitted yet; call fit(...) first.")
