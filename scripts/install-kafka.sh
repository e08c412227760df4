#!/usr/bin/env bash
# Fetches a single-node Apache Kafka 4.x broker (KRaft) from Maven Central for the Kafka tests
# (tests/kafka_broker.py starts it on loopback with `java -cp "<dir>/*" kafka.Kafka`).
#
# - the jars land in $OTELFLOW_KAFKA_HOME (default ~/.cache/otelflow/kafka-<version>);
# - does nothing when that directory already holds the broker jar (idempotent, instant);
# - needs `mvn` and Java 17+ (installed from Debian when missing); the version is pinned in scripts/kafka/pom.xml.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pom="$here/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
dest="${OTELFLOW_KAFKA_HOME:-$HOME/.cache/otelflow/kafka-$version}"

if [ -f "$dest/kafka_2.13-$version.jar" ]; then
  echo "kafka $version already in $dest"
  exit 0
fi

if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  # Debian's maven brings a JDK along; both are all the broker needs.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends maven default-jre-headless >/dev/null
fi

tmp="$dest.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "kafka $version installed in $dest"
