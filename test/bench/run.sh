#!/bin/sh
# make bench: signer throughput next to raw C_Sign on the same fresh token.
set -eu
B=$(cd "${1:-build}" && pwd)
SECS=${BENCH_SECONDS:-3}
tmp=$(mktemp -d /tmp/p11ca-bench.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "p11ca signer benchmark: $SECS s per figure, $(nproc) cores, SoftHSM $(softhsm2-util --version)"
for kt in p256:P-256 rsa2048:RSA-2048; do
	type=${kt%%:*} label=${kt#*:}
	home=$tmp/$type
	"$B/p11ca" init --home "$home" --create-token --key-type "$type" \
	    --name "bench $type" >"$tmp/init-$type.log" 2>&1 ||
	    { cat "$tmp/init-$type.log"; exit 1; }
	"$B/p11ca-signer" -c "$home/config/signer.conf" 2>"$tmp/signer-$type.log" &
	pids="$pids $!"
	i=0
	until [ -S "$home/run/signer.sock" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
	"$B/bench-signer" "$home" "$SECS" "$label" | tee "$tmp/bench-$type.txt"
	kill $! 2>/dev/null || true
done

# The whole CA over HTTPS: a fresh home on a free loopback port, signer
# and API started here, bench-api driving POST /1.0/sign.
port_free() {
	hex=$(printf '%04X' "$1")
	! awk 'NR > 1 { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
	    grep -qi ":$hex\$"
}
# Below the kernel's ephemeral range (32768 up), which outgoing
# connections may take from under us between this check and the bind.
port=$(( 20000 + $$ % 12000 ))
until port_free "$port"; do port=$((port + 1)); done
plain=$((port + 1))
until port_free "$plain"; do plain=$((plain + 1)); done
home=$tmp/api
# As make run sets it up: CDP and AIA in every certificate, SSH keys.
"$B/p11ca" init --home "$home" --create-token --address "127.0.0.1:$port" \
    --insecure-address "127.0.0.1:$plain" --ssh \
    --name "bench api" >"$tmp/init-api.log" 2>&1 ||
    { cat "$tmp/init-api.log"; exit 1; }
"$B/p11ca-signer" -c "$home/config/signer.conf" 2>"$tmp/signer-api.log" &
signer=$!
pids="$pids $signer"
i=0
until [ -S "$home/run/signer.sock" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
"$B/p11ca-api" -c "$home/config/ca.json" 2>"$tmp/api.log" &
api=$!
pids="$pids $api"
i=0
until "$B/p11ca" ca health --home "$home" >/dev/null 2>&1 || [ $i -ge 100 ]; do
	sleep 0.1; i=$((i+1))
done
echo
echo "p11ca API benchmark (POST /1.0/sign over HTTPS, 127.0.0.1:$port)"
# This machine's speed drifts: a figure to read the others against (and
# bench-api probes it during every run: "host %").
echo "machine now: openssl speed P-256 sign/s, verify/s (1 core):" \
    "$(openssl speed -seconds 1 ecdsap256 2>/dev/null |
    awk '/nistp256/ { print $(NF-1) ", " $NF }')"
# bench-api prints the verifies and C_Sign beside the runs: the cost no
# code of ours changes.
BENCH_RAW_SIGN=$(sed -n 's/^P-256 *raw C_Sign: 1 thread *\([0-9]*\)\/s.*/\1/p' \
    "$tmp/bench-p256.txt")
export BENCH_RAW_SIGN
rc=0
"$B/bench-api" "$home" "$SECS" "$api" "$signer" || rc=$?
[ $rc -eq 0 ] || { echo "bench-api: failures (rc $rc); api log:"; tail -n 20 "$tmp/api.log"; }
kill "$api" "$signer" 2>/dev/null || true
wait "$api" "$signer" 2>/dev/null || true
# Group commit over all three runs: certificates per fsync in each log.
sed -n 's/.*p11ca-api: \(store: .*\)/front end \1/p' "$tmp/api.log"
sed -n 's/.*shutting down: \(audit: .*\)/signer \1/p' "$tmp/signer-api.log"
exit $rc
