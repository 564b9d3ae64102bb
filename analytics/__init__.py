"""CRM analytics for the customer-service assistant.

The package is organised in rooms: a shared kernel (:mod:`analytics.core`),
the customer store (:mod:`analytics.store`), data ingestion
(:mod:`analytics.ingest`), estimators by capability (:mod:`analytics.customers`,
:mod:`analytics.recommend`, :mod:`analytics.forecast`), security
(:mod:`analytics.security`) and the use cases the action server, the web app
and the CLI call (:mod:`analytics.usecases`). Nothing here opens a database
connection at import time.
"""

__version__ = "0.1.0"
