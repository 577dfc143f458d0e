#!/usr/bin/env bash
# Installs every Debian 12 package that catalogsync's build, run and tests
# need.  Does nothing when they are all present.  Needs root (or sudo) only
# when something is missing.
set -eu

PKGS=(
  build-essential pkg-config
  librdkafka-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev libconfig-dev
  libmicrohttpd-dev
  libcmocka-dev
  redis-server redis-tools kcat
  python3 openssl ca-certificates valgrind curl
  chromium chromium-driver python3-selenium fonts-dejavu-core
  clang libclang-rt-14-dev
  python3-django python3-confluent-kafka python3-yaml python3-venv docker-compose
)
# The NestJS hook (hooks/nestjs) needs node and npm; Debian's only when none
# is on the PATH (a NodeSource or nvm install is kept as it is).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

here=$(cd "$(dirname "$0")" && pwd)
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  # A real Apache Kafka broker for the tests and benchmarks (Java from
  # Debian, the broker's jars from Maven Central, cached outside the tree).
  exec "$here/kafka-deps.sh"
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian redis-server package starts a system service on port 6379; the
# tests and the demo run their own instances on free ports and do not use it.
echo "deps: done"
exec "$here/kafka-deps.sh"
