#!/usr/bin/env bash
# Make sure Java 17 or newer is there for the spark adapter (pyspark itself comes from pip).
#
# Run as root on Debian 12. Idempotent: with a suitable java on PATH it only reports it.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

java_major() {
    command -v java >/dev/null 2>&1 || return 1
    # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15 (on stderr)
    java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'
}

major="$(java_major || true)"
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    echo "spark-setup: installing openjdk-17-jre-headless (found: ${major:-no java})"
    apt_install() {
        apt-get install -y -q --no-install-recommends openjdk-17-jre-headless </dev/null
    }
    if ! apt_install; then
        apt-get update -q </dev/null
        apt_install
    fi
    major="$(java_major)"
fi
echo "spark-setup: java $major at $(command -v java)"
