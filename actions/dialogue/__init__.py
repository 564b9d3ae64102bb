"""The conversation: what each customer message means for the request in progress, and the answer.

``state`` (what the conversation remembers), ``understand`` (details in a
message), ``manager`` (the policy), ``capabilities`` (thin handlers over the
analytics services), ``context`` (the replies of one turn).
"""
