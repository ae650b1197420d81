#!/bin/sh
# Installs the Debian 12 packages p11ca builds, runs and tests with; only
# those missing. Needs root (or sudo) when something is missing.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev
libssl-dev openssl libcjson-dev libevent-dev libsqlite3-dev sqlite3
libp11-kit-dev softhsm2 opensc libcmocka-dev
python3 python3-pytest python3-cryptography python3-jwcrypto
util-linux procps valgrind curl openssh-client openssh-server"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
echo "deps: installing:$missing"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
