"""Rasa 3.6 NLU components of the assistant (named in ``config.yml``) and the spaCy pipeline builder."""
