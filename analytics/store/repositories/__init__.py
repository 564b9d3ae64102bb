"""Repositories: the queries the use cases and jobs need, one module per aggregate.

The unit of work (:mod:`analytics.store.uow`) opens one of each on its session
(``uow.customers``, ``uow.orders``, ``uow.handoffs``, ``uow.forecasts`` ...);
nothing outside :mod:`analytics.store` queries the session itself.
"""
