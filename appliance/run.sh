#!/bin/sh
# make run: the CA on its embedded default, in var/ of the source tree
# (or $P11CA_HOME): a SoftHSM2 token, initialised on first run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$top/build}
home=${P11CA_HOME:-$top/var}

if [ ! -f "$home/config/ca.json" ]; then
	echo "First run: creating a lab CA in $home"
	"$B/p11ca" init --home "$home" --create-token
fi
fp=$(openssl x509 -in "$home/certs/root_ca.crt" -noout -fingerprint -sha256 |
    sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
echo
echo "Root fingerprint: $fp"
echo "Signer socket:    $home/run/signer.sock"
echo "Try, in another terminal:"
echo "  $B/p11ca hsm list --home $home"
echo "  $B/p11ca audit verify $home/audit/audit.log"
echo "Ctrl-C stops it."
echo
exec "$B/p11ca-signer" -c "$home/config/signer.conf"
