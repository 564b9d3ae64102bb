"""The conversation: what each customer message means for the request in progress, and the answer.

``state`` (what the conversation remembers), ``understand`` (details in a
message), ``specs`` (what each request needs), ``manager`` (the policy, with
``questions``: answers to the bot's own questions, and ``resolve``: identity,
order, item and product), ``capabilities`` (thin handlers over the analytics
services), ``context`` (the replies of one turn).
"""
