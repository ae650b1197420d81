# p11ca — build, test, run, bench.
#
#   make          all programs in build/
#   make deps     install the Debian packages the project needs (root)
#   make test     unit tests (plain and ASan+UBSan), fuzz smoke runs,
#                 integration tests against a real SoftHSM token
#   make run      start the CA on its embedded default in var/
#   make bench    print signer and token throughput figures

CC       ?= cc
CLANG    ?= clang
PKGS      = p11-kit-1 libcjson openssl libevent_openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs libcjson openssl 2>/dev/null) -lsqlite3 -lpthread -ldl
EVENT_LIBS := $(shell pkg-config --libs libevent_openssl libevent 2>/dev/null)
WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) -I. $(PKG_CFLAGS) -MMD -MP
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B        ?= build
PY        = /usr/bin/python3

# Every .c under a module folder is library code, except each program's main.c.
MODULES   = hsm hsm/signer policy provisioning appliance api
ALL_SRCS  = $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
MAINS     = hsm/signer/main.c provisioning/main.c api/main.c
LIB_SRCS  = $(filter-out $(MAINS),$(ALL_SRCS))
LIB_OBJS  = $(LIB_SRCS:%.c=$(B)/%.o)

UNIT_SRCS  = $(wildcard test/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:test/unit/%.c=$(B)/test/%)
FUZZ_SRCS  = $(wildcard test/fuzz/fuzz_*.c)
BENCH_SRCS = $(wildcard test/bench/*.c)

PROGS = $(B)/p11ca-signer $(B)/p11ca $(B)/p11ca-api $(B)/libp11fault.so

.PHONY: all deps test unit unit-san fuzz integration run bench clean lines
all: $(PROGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libp11ca.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/p11ca-signer: $(B)/hsm/signer/main.o $(B)/libp11ca.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/p11ca: $(B)/provisioning/main.o $(B)/libp11ca.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/p11ca-api: $(B)/api/main.o $(B)/libp11ca.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(EVENT_LIBS)

# The fault shim is a PKCS#11 module of its own: no sanitizer, no library.
$(B)/libp11fault.so: test/fault/p11fault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -D_GNU_SOURCE $(WARN) -O2 -g -fPIC -shared $(PKG_CFLAGS) -o $@ $< -ldl

$(B)/test/%: test/unit/%.c $(B)/libp11ca.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libp11ca.a $(PKG_LIBS) $(EVENT_LIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# The same code again, under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-san:
	$(MAKE) B=build-san CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" all unit

FUZZ_TIME ?= 15
FUZZ_FLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
# Every parser an attacker can reach, each run for FUZZ_TIME seconds from
# its seeds; a crash prints the reproducer and fails the build.
fuzz:
	$(MAKE) B=build-fuzz CC=$(CLANG) CFLAGS="-O1 -g $(FUZZ_FLAGS)" build-fuzz/libp11ca.a
	@set -e; for f in $(FUZZ_SRCS); do \
	  n=$$(basename $$f .c); \
	  $(CLANG) -std=c17 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o build-fuzz/$$n $$f build-fuzz/libp11ca.a $(PKG_LIBS) $(EVENT_LIBS); \
	  mkdir -p build-fuzz/corpus-$$n; \
	  seeds=; [ -d test/fuzz/seeds/$$n ] && seeds=test/fuzz/seeds/$$n; \
	  echo "== fuzz $$n for $(FUZZ_TIME)s"; \
	  build-fuzz/$$n -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 \
	    build-fuzz/corpus-$$n $$seeds >build-fuzz/$$n.log 2>&1 \
	    || { tail -60 build-fuzz/$$n.log; exit 1; }; \
	  tail -1 build-fuzz/$$n.log; \
	done

integration: all
	P11CA_BUILD=$(abspath $(B)) $(PY) -m pytest -q test/integration

integration-san:
	$(MAKE) B=build-san CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" integration

test: unit unit-san fuzz integration-san lines

deps:
	./appliance/deps.sh

run: all
	./appliance/run.sh

bench: all $(B)/bench-signer $(B)/bench-api
	./test/bench/run.sh $(B)

$(B)/bench-signer: test/bench/bench_signer.c $(B)/libp11ca.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libp11ca.a $(PKG_LIBS) -lpthread

$(B)/bench-api: test/bench/bench_api.c $(B)/libp11ca.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libp11ca.a $(PKG_LIBS) $(EVENT_LIBS) -lpthread

# The signer's size budget (issue: under 2,000 lines, protocol codec aside).
lines: all
	@./test/signer-lines.sh

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
