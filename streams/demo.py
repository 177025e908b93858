"""``./dev run``: the main job on defaults: a local broker, a worker, until Ctrl-C.

Starts a broker only when none answers at SENDGUARD_KAFKA_BOOTSTRAP, and stops only the
one it started. The worker is a normal ``sendguard worker`` subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from streams.kafka_jars import KafkaSetupError
from streams.kafka_local import default_broker
from streams.settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
        broker = default_broker(settings.home, *settings.bootstrap_host_port)
        started_broker = False
        if broker.answers():
            print(f"demo: using the Kafka broker at {broker.bootstrap}")
        else:
            seconds = broker.start()
            started_broker = True
            print(f"demo: started Kafka at {broker.bootstrap} in {seconds:.1f} s")
    except (SettingsError, KafkaSetupError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=os.environ)
    print(
        f"demo: worker pid {worker.pid}; health http://127.0.0.1:{settings.web_port}/healthz, "
        f"metrics http://127.0.0.1:{settings.web_port}/metrics. Ctrl-C stops everything."
    )
    try:
        return worker.wait()
    except KeyboardInterrupt:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        return 0
    finally:
        if started_broker:
            broker.stop()
            print("demo: Kafka stopped")


if __name__ == "__main__":
    sys.exit(main())
