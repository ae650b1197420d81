#!/bin/sh
# make run: the CA on its embedded default, in var/ of the source tree
# (or $P11CA_HOME): a SoftHSM2 token initialised on first run, the signer,
# and the HTTPS front end on https://127.0.0.1:9000. Ctrl-C stops both.
#
# Started as root, each runs as its own system user: p11ca-signer owns the
# token, the PIN and the audit log; p11ca owns the database and can read
# neither the token nor the PIN.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$top/build}
home=${P11CA_HOME:-$top/var}
as_signer= as_api=

if [ "$(id -u)" -eq 0 ]; then
	for u in p11ca-signer p11ca; do
		id -u "$u" >/dev/null 2>&1 ||
		    useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin "$u"
	done
	as_signer="setpriv --reuid=p11ca-signer --regid=p11ca-signer --init-groups --"
	as_api="setpriv --reuid=p11ca --regid=p11ca --init-groups --"
	api_uid=$(id -u p11ca)
fi

if [ ! -f "$home/config/ca.json" ]; then
	echo "First run: creating a lab CA in $home"
	"$B/p11ca" init --home "$home" --create-token \
	    --insecure-address 127.0.0.1:9080 --ssh ${api_uid:+--allow-uid "$api_uid"}
fi
if [ -n "$as_signer" ]; then
	conf=$home/config/signer.conf
	grep -q "^allow-uid $api_uid\$" "$conf" ||
	    printf 'allow-uid %s\n' "$api_uid" >>"$conf"
	chown -R p11ca-signer:p11ca-signer "$home/tokens" "$home/audit" \
	    "$home/run"
	chown p11ca-signer "$home/secrets" "$home/secrets/pin"
	chown -R p11ca:p11ca "$home/db"
	chmod 0755 "$home/run"
fi

$as_signer "$B/p11ca-signer" -c "$home/config/signer.conf" &
signer=$!
api=
stop() {
	trap - INT TERM EXIT
	[ -z "$api" ] || kill "$api" 2>/dev/null || true
	kill "$signer" 2>/dev/null || true
	wait 2>/dev/null || true
}
# Ctrl-C reaches the whole process group, so both have their signal
# already: the front end first finishes what is in flight (up to 5 s), and
# a second signal from here would cut that short. Then exit 0: Ctrl-C is
# how it is meant to end.
on_int() {
	trap - INT TERM EXIT
	i=0
	while [ -n "$api" ] && kill -0 "$api" 2>/dev/null && [ $i -lt 70 ]; do
		sleep 0.1; i=$((i + 1))
	done
	stop
	exit 0
}
trap on_int INT
trap 'stop; exit 0' TERM
trap stop EXIT
i=0
until [ -S "$home/run/signer.sock" ] || [ $i -ge 100 ]; do
	kill -0 "$signer" 2>/dev/null || { echo "the signer did not start" >&2; exit 1; }
	sleep 0.1; i=$((i + 1))
done
$as_api "$B/p11ca-api" -c "$home/config/ca.json" &
api=$!
fp=$(openssl x509 -in "$home/certs/root_ca.crt" -noout -fingerprint -sha256 |
    sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
sleep 0.5
cat <<EOT

p11ca is running: https://127.0.0.1:9000 (state in $home)
CRL, OCSP and the SSH KRL also over plain HTTP: http://127.0.0.1:9080
Root fingerprint: $fp
Try, in another terminal:
  $B/p11ca ca certificate svc.example.com svc.crt svc.key --home $home
  curl --cacert $home/certs/root_ca.crt https://127.0.0.1:9000/health
  curl -s http://127.0.0.1:9080/crl | openssl crl -inform DER -noout -text
  $B/p11ca audit verify $home/audit/audit.log
Ctrl-C stops both processes.

EOT
wait "$api"
