"""A single-node Apache Kafka (KRaft) started from its jars, for the demo, the tests and
the benchmark. It imports nothing of Sendguard: any project could use it.

- :mod:`localkafka.jars`: the Kafka distribution, fetched with Maven into a cache.
- :mod:`localkafka.probe`: is a port free, does a broker answer there.
- :mod:`localkafka.broker`: :class:`~localkafka.broker.LocalBroker`, start and stop one.
"""
