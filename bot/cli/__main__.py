"""``python -m bot.cli``: the same as the ``crm`` script (tests and benchmarks run the tree's own copy)."""

from bot.cli.app import app

app()
