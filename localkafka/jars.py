"""Fetch the official Apache Kafka broker jars from Maven Central, once, into a cache.

``org.apache.kafka:kafka_2.13`` lists every runtime dependency in its POM, so Maven's
``copy-dependencies`` yields a complete classpath. The POM carries no logging backend, and
the broker still speaks slf4j-api 1.7, hence the slf4j-simple 1.7.36 binding.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

KAFKA_VERSION = "3.9.2"
"""The one place the broker version lives (docker-compose.kafka.yml pins the same)."""
SCALA_VERSION = "2.13"
SLF4J_BINDING = ("org.slf4j", "slf4j-simple", "1.7.36")


class KafkaSetupError(RuntimeError):
    """The local broker cannot be set up or started; the message says why and what to do."""


_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sendguard</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>{slf4j_group}</groupId>
      <artifactId>{slf4j_artifact}</artifactId>
      <version>{slf4j_version}</version>
    </dependency>
  </dependencies>
</project>
"""


def jar_dir(home: Path, version: str = KAFKA_VERSION) -> Path:
    return home / f"kafka-{version}" / "lib"


def require_tool(name: str, what_for: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise KafkaSetupError(
            f"`{name}` was not found on PATH; it is needed {what_for}. "
            "Install a Java 17+ JDK and Apache Maven, or point SENDGUARD_KAFKA_BOOTSTRAP "
            "at a running broker."
        )
    return path


def ensure_jars(home: Path, version: str = KAFKA_VERSION) -> Path:
    """Return the folder of broker jars, downloading them with Maven on first use."""
    lib = jar_dir(home, version)
    marker = lib / ".complete"
    if marker.exists():
        return lib
    mvn = require_tool("mvn", "once, to download the Kafka broker jars")
    build = lib.parent / "maven"
    build.mkdir(parents=True, exist_ok=True)
    group, artifact, slf4j_version = SLF4J_BINDING
    (build / "pom.xml").write_text(
        _POM.format(
            kafka=version,
            scala=SCALA_VERSION,
            slf4j_group=group,
            slf4j_artifact=artifact,
            slf4j_version=slf4j_version,
        )
    )
    staging = lib.parent / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    print(f"sendguard: downloading Apache Kafka {version} broker jars with Maven (once)...")
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(build / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not any(staging.glob(f"kafka_{SCALA_VERSION}-*.jar")):
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise KafkaSetupError(f"Maven could not fetch the Kafka {version} jars:\n{tail}")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    marker.touch()
    return lib
