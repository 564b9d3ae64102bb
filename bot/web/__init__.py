"""The customer web chat page and the agent console (FastAPI, :mod:`bot.web.app`).

Also :mod:`bot.web.rasa_channel`, the socket.io channel the Rasa server loads;
it runs in the Rasa environment, so nothing here may import the web stack at
package import time.
"""
