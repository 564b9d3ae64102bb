"""Code that runs inside the Rasa server's environment (``.venv-rasa``: Rasa 3.6, Python 3.10).

- :mod:`bot.rasa_runtime.nlu`: the NLU graph components ``config.yml`` names, and
  :mod:`~bot.rasa_runtime.nlu.build_spacy` (the catalogue entity ruler);
- :mod:`bot.rasa_runtime.channels`: the REST and socket.io channels ``credentials.yml`` names;
- :mod:`bot.rasa_runtime.launcher`: starts ``rasa run`` with its API secret from the environment;
- :mod:`bot.rasa_runtime.degradation`: a deadline on action calls and an apology instead of silence;
- :mod:`bot.rasa_runtime.stores`: the lock store (renewed leases) and SQL tracker store (retries) of the
  production profile;
- :mod:`bot.rasa_runtime.parse`: parses a test set with a trained model for the release gate.

Nothing here imports ``analytics``, ``actions`` or another ``bot`` package: those
run in the application environment, with libraries Rasa's pins do not allow. The
two sides meet only through files (``data/catalog_patterns.jsonl``, the training
data, models), command lines and HTTP. This package (and ``nlu``) import nothing
at package import time, so :mod:`~bot.rasa_runtime.nlu.patterns` (stdlib only)
can be read from either environment.
"""
