"""Rasa 3.6 NLU components of the assistant: MiniLM sentence features and the intent classifier."""
