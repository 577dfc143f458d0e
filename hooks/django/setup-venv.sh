#!/usr/bin/env bash
# Makes the virtual environment with the current Django LTS that the Django
# hook's second test run uses (tests/integration/test_hooks_django.py,
# DjangoLtsHookTest; Debian's python3-django is the first): a venv of Debian's
# /usr/bin/python3 with exactly the packages and hashes pinned in
# requirements-lts.txt, from PyPI, binary wheels only.  It lives outside the
# work tree:
#   $CS_DJANGO_LTS_VENV (default /var/cache/catalogsync/django-lts-venv)
# and is rebuilt only when requirements-lts.txt or the interpreter changed;
# otherwise this does nothing.  The test runs it; so can you.  Installs
# Debian's python3-venv first when the interpreter lacks ensurepip.
#
# The last line printed is PYTHON=<the venv's interpreter>.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements-lts.txt"
venv=${CS_DJANGO_LTS_VENV:-/var/cache/catalogsync/django-lts-venv}
py=/usr/bin/python3

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
if ! "$py" -c 'import ensurepip' 2>/dev/null; then
  echo "django-lts: installing python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends python3-venv
fi

parent=$(dirname "$venv")
if [ ! -w "$parent" ]; then
  $SUDO mkdir -p "$parent"
  [ -z "$SUDO" ] || $SUDO chown "$(id -u):$(id -g)" "$parent"
fi
exec 9> "$venv.lock"
flock 9

# The stamp names the checksum of the requirements and the interpreter's version.
sum=$( { cat "$req"; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
if [ ! -f "$venv/.complete-$sum" ]; then
  echo "django-lts: building $venv from $(basename "$req")"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
      --require-hashes --no-deps --only-binary=:all: -r "$req"
  "$venv/bin/python" -m pip check
  "$venv/bin/python" -c 'import django, confluent_kafka'
  touch "$venv/.complete-$sum"
fi
echo "django-lts: ready: $("$venv/bin/python" -c 'from importlib.metadata import version as v
import confluent_kafka
print("Django %s, confluent-kafka %s, librdkafka %s"
      % (v("Django"), v("confluent-kafka"), confluent_kafka.libversion()[0]))')"
echo "PYTHON=$venv/bin/python"
