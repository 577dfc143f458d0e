# catalogsync — one Makefile, flags from pkg-config (hiredis style).
#
#   make                 build every program into $(BUILD)/bin
#   make test            the whole test suite (unit + integration)
#   make sanitize        the test suite under AddressSanitizer + UBSan
#   make valgrind        the test suite with C programs under valgrind memcheck
#   make check           sanitize, then valgrind (what CI runs; `make ci` too)
#   make deps            install the Debian packages build, run and tests need
#   make demo            local stack + sample products (see README)
#   make install PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PKGS    := rdkafka libcurl jansson hiredis libconfig libmicrohttpd

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -Icommon -Iworkers
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

# Hardening (issue 14): stack canaries, position-independent executables,
# full RELRO (GOT read-only after start-up, every symbol bound at load).
# tests/integration/test_hardening.py reads the built binaries for them.
CFLAGS  += -fstack-protector-strong -fPIE
LDFLAGS += -pie -Wl,-z,relro,-z,now

ifneq ($(SANITIZE),)
BUILD   := build-sanitize
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
else
# The checked libc calls (__memcpy_chk, __snprintf_chk...); left out of the
# sanitizer build, whose interceptors do the checking there.
CFLAGS  += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif

# The state machine's Lua scripts (docs/REDIS.md), one per operation:
# common/lua/NAME.lua is built in as the C string cs_lua_NAME
# (common/lua/lua2c.awk, comments left out), part of the library.  Parts
# several scripts share go in common/lua/include/ (`-- #include "include/X.lua"`).
LUA_SRC    := $(wildcard common/lua/*.lua)
LUA_PART   := $(wildcard common/lua/include/*.lua)
LUA2C       = awk -v name=$* -f common/lua/lua2c.awk

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o) $(LUA_SRC:common/lua/%.lua=$(BUILD)/obj/gen/lua_%.o)
LIB        := $(BUILD)/libcatalogsync.a

# workers/: the channel-neutral loop (worker*.c), the sink interface
# (sink.h) and each channel whole, named by its prefix: meta*.c (sink,
# mapping, Graph API client), woo*.c (sink, links, mapping, REST client).
WORKER_SRC := $(wildcard workers/*.c)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/obj/%.o)
# Sink objects (everything but main.o) also link into unit tests.
SINK_OBJ   := $(filter-out $(BUILD)/obj/workers/main.o,$(WORKER_OBJ))

PROGRAMS := $(BUILD)/bin/catalogsync-publish $(BUILD)/bin/catalogsync-devbroker \
            $(BUILD)/bin/catalogsync-worker $(BUILD)/bin/catalogsyncctl \
            $(BUILD)/bin/catalogsync-admin
TEST_TOOLS := $(BUILD)/bin/cs-test-consume $(BUILD)/bin/cs-test-lease
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Keep intermediate objects (unit test .o files) between runs.
.SECONDARY:

.PHONY: all test unit sanitize valgrind check ci soak deps demo install clean check-deps
all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h workers/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Built afresh whenever its list of modules changes too (the list is
# rewritten when make reads this file, only if it differs): a module moved
# out of common/ leaves no stale member behind.
LIB_LIST := $(BUILD)/lib.objs
$(shell mkdir -p $(BUILD) && (echo '$(COMMON_OBJ)' | cmp -s - $(LIB_LIST) || \
        echo '$(COMMON_OBJ)' > $(LIB_LIST)))
$(LIB): $(COMMON_OBJ) $(LIB_LIST)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $(COMMON_OBJ)

$(BUILD)/bin/catalogsync-publish: $(BUILD)/obj/tools/publish.o $(BUILD)/obj/tools/input.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/catalogsync-devbroker: $(BUILD)/obj/tools/devbroker.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/catalogsync-worker: $(WORKER_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# doctor asks each channel the way its sink does: the channels' clients
# (meta_graph, woo_rest + woo_answers) and the Meta mapping come from workers/.
CTL_CHANNEL_OBJ := $(addprefix $(BUILD)/obj/workers/,meta_graph.o meta_map.o woo_rest.o woo_answers.o)
$(BUILD)/bin/catalogsyncctl: $(BUILD)/obj/tools/ctl.o $(BUILD)/obj/tools/doctor.o $(CTL_CHANNEL_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The status page is served from memory: tools/admin_page.html and its
# script tools/admin_app.js (/app.js) as C strings cs_admin_page, cs_admin_app.
$(BUILD)/gen/admin_page.c: tools/admin_page.html
$(BUILD)/gen/admin_app.c: tools/admin_app.js
$(BUILD)/gen/admin_%.c:
	@mkdir -p $(dir $@)
	{ echo 'const char cs_admin_$*[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $^; \
	  echo '    ;'; } > $@

# A script changed (or a part it may include, or the generator): built again.
$(BUILD)/gen/lua_%.c: common/lua/%.lua $(LUA_PART) common/lua/lua2c.awk
	@mkdir -p $(dir $@)
	$(LUA2C) $< > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/bin/catalogsync-admin: $(BUILD)/obj/tools/admin.o $(BUILD)/obj/gen/admin_page.o \
                                $(BUILD)/obj/gen/admin_app.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/cs-test-consume: $(BUILD)/obj/tests/tools/consume.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/cs-test-lease: $(BUILD)/obj/tests/tools/lease.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tools/input.o $(SINK_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)

test: all $(TEST_TOOLS) $(UNIT_BIN)
	BUILD=$(BUILD) tests/run.sh

sanitize:
	$(MAKE) SANITIZE=address,undefined test

# What CI runs (the README's test command): the whole suite under ASan+UBSan,
# then under valgrind memcheck; any sanitizer or valgrind report fails it.
check:
	$(MAKE) sanitize
	$(MAKE) valgrind

ci: check

valgrind: all $(TEST_TOOLS) $(UNIT_BIN)
	BUILD=$(BUILD) CS_VALGRIND=1 tests/run.sh

# The chaos scenario for SOAK_SECONDS (default 30 minutes): new versions of
# every product round after round, faults, kills, a Redis restart; prints its
# figures and the workers' RSS per round, fails on any mismatch.
SOAK_SECONDS ?= 1800
SOAK_PRODUCTS ?= 5000
soak: all $(TEST_TOOLS)
	BUILD=$(BUILD) /usr/bin/python3 tests/chaos/chaos.py --products $(SOAK_PRODUCTS) \
	  --duration $(SOAK_SECONDS) --chaos-seconds $(SOAK_SECONDS) --settle-timeout 1200 --keep-one

deps:
	scripts/deps.sh

demo:
	scripts/demo.sh $(DEMO_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/catalogsync
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 deploy/catalogsync.conf.example README.md $(DESTDIR)$(PREFIX)/share/doc/catalogsync/

clean:
	rm -rf build build-sanitize

# Fuzzing (libFuzzer, clang): make fuzz [FUZZ_SECONDS=600]
-include tests/fuzz/fuzz.mk

# Benchmarks (docs/PERFORMANCE.md): a fast fake channel and a claim-rate tool,
# driven by tests/bench/bench.py.  `make bench` is the full run (200,000
# events over 20,000 products per sink, several minutes; and issue 17's
# stream: 200,000 events, one per product, 24 partitions, through a worker
# and through a plain confluent-kafka consumer, tests/bench/plain_consumer.py,
# in the same run); `make bench-quick` the same phases, much smaller (about
# a minute; 20,000 events one per product).  Extra driver flags:
# BENCH_ARGS="--events 100000 --workers 2".  Issue 16's phases run only when
# asked for: BENCH_ARGS="--sinks woocommerce --phases hang" (two stores, one
# hanging: the other's convergence, the hung one's recovery against the retry
# delay) and BENCH_ARGS="--sinks meta --phases slowmeta" (one worker, a Meta
# that takes 10 s to finish a batch); --worker-build DIR runs another build's
# worker.  Benchmarks only: nothing in `make test` runs them or asserts on
# speed.
BENCH_TOOLS := $(BUILD)/bin/cs-bench-fake $(BUILD)/bin/cs-bench-claim $(BUILD)/bin/cs-bench-parse
BENCH_ARGS ?=
.PHONY: bench bench-quick

$(BUILD)/bin/cs-bench-fake: $(BUILD)/obj/tests/bench/fastfake.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/cs-bench-claim: $(BUILD)/obj/tests/bench/claimbench.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/cs-bench-parse: $(BUILD)/obj/tests/bench/parsebench.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench: all $(TEST_TOOLS) $(BENCH_TOOLS)
	BUILD=$(BUILD) /usr/bin/python3 tests/bench/bench.py $(BENCH_ARGS)

bench-quick: all $(TEST_TOOLS) $(BENCH_TOOLS)
	BUILD=$(BUILD) /usr/bin/python3 tests/bench/bench.py --quick $(BENCH_ARGS)
