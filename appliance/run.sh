#!/bin/sh
# make run: the CA on its embedded default, in var/ of the source tree
# (or $P11CA_HOME): a SoftHSM2 token initialised on first run, the signer,
# and the HTTPS front end on https://127.0.0.1:9000. Ctrl-C stops both.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$top/build}
home=${P11CA_HOME:-$top/var}

if [ ! -f "$home/config/ca.json" ]; then
	echo "First run: creating a lab CA in $home"
	"$B/p11ca" init --home "$home" --create-token
fi
"$B/p11ca-signer" -c "$home/config/signer.conf" &
signer=$!
api=
stop() {
	trap - INT TERM EXIT
	[ -n "$api" ] && kill "$api" 2>/dev/null
	kill "$signer" 2>/dev/null
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT
i=0
until [ -S "$home/run/signer.sock" ] || [ $i -ge 100 ]; do
	kill -0 "$signer" 2>/dev/null || { echo "the signer did not start" >&2; exit 1; }
	sleep 0.1; i=$((i + 1))
done
"$B/p11ca-api" -c "$home/config/ca.json" &
api=$!
fp=$(openssl x509 -in "$home/certs/root_ca.crt" -noout -fingerprint -sha256 |
    sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
sleep 0.5
cat <<EOT

p11ca is running: https://127.0.0.1:9000 (state in $home)
Root fingerprint: $fp
Try, in another terminal:
  curl --cacert $home/certs/root_ca.crt https://127.0.0.1:9000/health
  $B/p11ca hsm list --home $home
  $B/p11ca audit verify $home/audit/audit.log
Ctrl-C stops both processes.

EOT
wait "$api"
