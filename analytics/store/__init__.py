"""The SQL customer store: models, migrations, repositories, unit of work."""
