"""The wire contract as code: input events, account metadata and output records.

Nothing in this package imports Faust or Kafka clients, so ``policy/`` and the offline
replay can use it anywhere.
"""
