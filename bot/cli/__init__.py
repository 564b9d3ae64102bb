"""The ``crm`` command line: :mod:`bot.cli.app` assembles one module per command group.

Commands import the heavy libraries they need (pandas, scikit-learn, statsmodels,
implicit, SQLAlchemy's ORM, the NLU loop) inside the command, so ``crm --help``,
``crm chat`` and a mistyped option answer in a fraction of a second instead of
after two seconds of imports; everything light is imported at the top.
"""
