"""Operators' loop for the assistant's NLU: triage, annotate, train, gate, publish, roll back.

- :mod:`bot.ops.triage` reads the Rasa SQL tracker store and lists what the bot
  misunderstood, grouped by similarity;
- :mod:`bot.ops.annotate` merges the operator's labels into the training data,
  masked and without duplicates;
- :mod:`bot.ops.train` validates the data and trains a model (in ``.venv-rasa``);
- :mod:`bot.ops.gate` evaluates models on the held-out set and the conversation
  tests and decides whether a candidate may replace the live model;
- :mod:`bot.ops.registry` registers model files in the model registry
  (:mod:`analytics.usecases.operations`: metrics, data hash, the audit log) and
  says which file may be loaded;
- :mod:`bot.ops.proxy`, :mod:`bot.ops.swap` (blue/green servers), :mod:`bot.ops.switchboard`
  (the ``crm nlu serve`` process) and :mod:`bot.ops.admin` (its swap API) serve the assistant
  behind a switch, so a new model goes live without a restart and without a stall;
- :mod:`bot.ops.erasure` completes customers' deletion and export requests everywhere.

Nothing here imports Rasa: Rasa runs as a subprocess in its own environment.
"""
