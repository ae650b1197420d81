#!/bin/sh
# The signer's size budget. Counts source lines (not blank, not comment)
# of every file linked into p11ca-signer, as the linker's map names them.
#
# Budget (2,000): the signer's own code, hsm/signer/ and the guards, which
# nothing else runs. Reported beside it: the libraries it shares with the
# operator's CLI and the front end (PKCS#11 layer, audit log, PIN sources,
# DER reader); the wire codec (hsm/proto.c) is left out of both, as it is
# one file both sides of the socket link.
set -eu
B=${B:-build}
map=$(mktemp)
trap 'rm -f "$map"' EXIT
cc -o /dev/null -Wl,-Map="$map" "$B/hsm/signer/main.o" "$B/libp11ca.a" \
    $(pkg-config --libs libcjson openssl) -ldl
objs=$(sed -n 's/^[^ ]*libp11ca\.a(\([a-z0-9_]*\)\.o).*/\1/p' "$map" | sort -u)
sloc() { gcc -fpreprocessed -dD -E -P "$1" 2>/dev/null | grep -cv '^[[:space:]]*$' || true; }
own=0 shared=0
for f in hsm/signer/*.c hsm/signer/*.h hsm/guard.c hsm/guard.h; do
	n=$(sloc "$f"); own=$((own + n)); printf '%6d  %s\n' "$n" "$f"
done
for o in $objs; do
	f=$(find hsm -name "$o.c" | head -1)
	case "$f" in hsm/signer/*|hsm/guard.c|hsm/proto.c|"") continue;; esac
	for g in "$f" "${f%.c}.h"; do
		[ -f "$g" ] || continue
		n=$(sloc "$g"); shared=$((shared + n)); printf '%6d  %s (shared)\n' "$n" "$g"
	done
done
printf '%6d  the signer'"'"'s own code (budget 2000)\n' "$own"
printf '%6d  with the shared libraries it links\n' "$((own + shared))"
[ "$own" -lt 2000 ]
