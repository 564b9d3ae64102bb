"""The web app's routers, one per audience; each ``router(web)`` builds its routes for one app's context.

- :mod:`.pages`: the HTML pages, the chat widget's script and ``/health``;
- :mod:`.auth`: who is who: the shop's (demo) sign-in, ``/api/session``, the console's log-in and log-out;
- :mod:`.chat`: the customer's chat page: listing a conversation, its history;
- :mod:`.console`: the agents' console data: queue, conversations, taking over, replying, offers, handing back;
- :mod:`.admin`: what only operators see: the handoff report and the staff list.
"""
