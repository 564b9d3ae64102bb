"""CRM analytics for the customer-service assistant.

The package is organised as a customer store (:mod:`analytics.store`), data
ingestion (:mod:`analytics.ingest`) and use-case services
(:mod:`analytics.services`) that the action server and the CLI call.
Nothing here opens a database connection at import time.
"""

__version__ = "0.1.0"
