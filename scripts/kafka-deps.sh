#!/usr/bin/env bash
# Installs what a real Apache Kafka broker needs here: a Java runtime and Maven
# from Debian, then the broker's jars (org.apache.kafka:kafka_2.13, version in
# scripts/kafka/pom.xml) from Maven Central into a cache outside the work tree:
#   $CS_KAFKA_HOME (default /var/cache/catalogsync/kafka-<version>)/libs/*.jar
# Does nothing when the cache is complete.
# Called by scripts/deps.sh; scripts/kafka.py runs brokers from the cache.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pom="$here/kafka/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
home=${CS_KAFKA_HOME:-/var/cache/catalogsync/kafka-$version}

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
missing=()
for p in openjdk-17-jre-headless maven; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kafka-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The stamp names the pom's checksum: a changed pom fetches again.
sum=$(sha256sum "$pom" | cut -c1-16)
if [ -f "$home/.complete-$sum" ]; then
  echo "kafka-deps: Apache Kafka $version present in $home"
  exit 0
fi
echo "kafka-deps: fetching Apache Kafka $version from Maven Central into $home"
$SUDO mkdir -p "$home"
[ -z "$SUDO" ] || $SUDO chown "$(id -u):$(id -g)" "$home"
tmp=$(mktemp -d "$home/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp/libs"
ls "$tmp/libs/kafka_2.13-$version.jar" >/dev/null
rm -rf "$home/libs" "$home"/.complete-*
mv "$tmp/libs" "$home/libs"
touch "$home/.complete-$sum"
echo "kafka-deps: $(ls "$home/libs" | wc -l) jars in $home/libs"
