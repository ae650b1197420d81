#!/bin/sh
# The signer's size budget: source lines (no blanks, no comments) of every
# file linked into p11ca-signer, the shared protocol codec aside. The
# linker's map says which library members it pulled in.
set -eu
B=${B:-build}
map=$(mktemp)
cc -o /dev/null -Wl,-Map="$map" "$B/hsm/signer/main.o" "$B/libp11ca.a" \
    $(pkg-config --libs libcjson openssl) -ldl
objs=$(sed -n 's/^[^ ]*libp11ca\.a(\([a-z0-9_]*\)\.o).*/\1/p' "$map" | sort -u)
rm -f "$map"
srcs="hsm/signer/main.c"
for o in $objs; do
	f=$(find hsm policy appliance provisioning api -name "$o.c" | head -1)
	[ "$f" = hsm/proto.c ] || srcs="$srcs $f"
	h=${f%.c}.h; [ -f "$h" ] && [ "$h" != hsm/proto.h ] && srcs="$srcs $h"
done
[ -f hsm/signer/signer.h ] && srcs="$srcs hsm/signer/signer.h"
total=0
for f in $srcs; do
	n=$(gcc -fpreprocessed -dD -E -P "$f" 2>/dev/null | grep -cv '^[[:space:]]*$' || true)
	printf '%6d  %s\n' "$n" "$f"
	total=$((total + n))
done
printf '%6d  total (budget 2000)\n' "$total"
[ "$total" -lt 2000 ]
