"""``otelflow doctor``: find the mistakes collector users make, in a config (the lint) or in live traffic.

The lint (``findings``, ``context``, ``rules``, ``lint``) reads a config as ``otelflow validate`` does
and runs small rules over it; ``live`` asks a running otelflow's doctor extension what it saw.
"""
