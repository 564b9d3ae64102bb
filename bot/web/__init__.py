"""The customer web chat page and the agent console (FastAPI; the app factory is :func:`bot.web.app.create_app`)."""
