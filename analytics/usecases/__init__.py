"""Use cases: what the action server, the web app and the CLI call, one module per topic.

Each function takes a unit of work, runs in one transaction of it and returns
frozen dataclasses; refusals and unknown inputs raise the domain errors of
:mod:`analytics.core.errors`. Times are naive UTC (:mod:`analytics.core.clock`).
"""
