"""Domain errors. Services raise these; the edges (actions, CLI, HTTP) turn them
into a bot response, an exit code or a status."""

from __future__ import annotations

from typing import TYPE_CHECKING


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


class StoreTimeout(CRMError):
    """The customer store cancelled a statement that ran past the configured statement timeout."""

    def __init__(self, timeout_ms: int, variable: str) -> None:
        super().__init__(
            f"The customer store cancelled a statement after {timeout_ms / 1000:g} s ({variable}={timeout_ms}): "
            "it waited for a lock or worked too long. Try again; if it recurs, look for a long transaction."
        )
        self.timeout_ms = timeout_ms


class ImportFileError(InvalidInput):
    """A data file that cannot be imported. ``line`` is the 1-based line in the
    file (the header is line 1) when the problem is in one row."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(CRMError, SklearnNotFittedError):
        """An estimator was used before ``fit``. A subclass of scikit-learn's
        ``NotFittedError`` (itself a ValueError and AttributeError), so code that
        catches theirs catches ours."""

        def __init__(self, estimator: object) -> None:
            super().__init__(f"This {type(estimator).__name__} is not fitted yet; call fit(...) first.")

    NotFittedError.__module__ = __name__
    NotFittedError.__qualname__ = "NotFittedError"
    return NotFittedError


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(CRMError, _SklearnNotFittedError):
        def __init__(self, estimator: object) -> None: ...

else:

    def __getattr__(name: str) -> type:
        # Built on first use: importing scikit-learn takes about a second, and the action server and the
        # CLI import this module without ever fitting an estimator.
        if name == "NotFittedError":
            globals()[name] = cls = _not_fitted_error()
            return cls
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
