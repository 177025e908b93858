"""Offline tools: replay a JSON-lines event file through the policy, and simulate traffic.

Nothing here imports Faust or aiokafka at module level: a replay runs the very code the
worker runs (``policy.guard``) without a broker. ``offline.produce`` imports aiokafka only
when it is called.
"""
