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
	"$B/bench-signer" "$home" "$SECS" "$label"
	kill $! 2>/dev/null || true
done
