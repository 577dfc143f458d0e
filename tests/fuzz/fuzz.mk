# libFuzzer harnesses (clang), included from the top-level Makefile.
# See tests/fuzz/README.md.
#
#   make fuzz-build                     build every harness into $(FUZZ_BUILD)/bin
#   make fuzz [FUZZ_SECONDS=600]        build, then run each target that long
#   make fuzz FUZZ_TARGETS=fuzz_event   run a subset (space-separated names)
#   make -k -j5 fuzz                    all targets at once, even after a crash
#   make fuzz-regress                   run each harness once over its corpus (seconds)
#   make fuzz-clean                     remove $(FUZZ_BUILD)
#
# Only FUZZ_* names are defined here, so the top Makefile's BUILD, CFLAGS and
# rules are left alone.  Library sources are compiled again, with coverage
# instrumentation, into $(FUZZ_BUILD)/obj (never into build/).

FUZZ_CC       ?= clang
FUZZ_BUILD    ?= build-fuzz
FUZZ_SECONDS  ?= 600
FUZZ_DIR      := tests/fuzz
FUZZ_ALL      := fuzz_event fuzz_config fuzz_graph fuzz_woo fuzz_money_map fuzz_httpd \
                 fuzz_headers fuzz_state
FUZZ_TARGETS  ?= $(FUZZ_ALL)
# Extra libFuzzer flags for every run, e.g. FUZZ_FLAGS=-use_value_profile=1.
FUZZ_FLAGS    ?=

FUZZ_PKGS     := rdkafka libcurl jansson hiredis libconfig libmicrohttpd
FUZZ_PKG_CFLAGS := $(shell pkg-config --cflags $(FUZZ_PKGS) 2>/dev/null)
FUZZ_PKG_LIBS   := $(shell pkg-config --libs $(FUZZ_PKGS) 2>/dev/null) -lpthread

FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   := -g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE \
                 -Wall -Wextra -Wshadow -Wstrict-prototypes \
                 -Icommon -Iworkers $(FUZZ_PKG_CFLAGS)

# Library code under test: every common/ module plus the two channel clients
# (Graph API answers, WooCommerce REST), the two channel mappers and the
# worker's HTTP handler.
FUZZ_LIB_SRC  := $(wildcard common/*.c) workers/meta_graph.c workers/woo_rest.c \
                 workers/woo_answers.c workers/meta_map.c workers/woo_map.c workers/worker_obs.c
# ... and the state scripts (common/lua/*.lua, the top Makefile's LUA_SRC),
# generated as there.
FUZZ_LIB_OBJ  := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) \
                 $(LUA_SRC:common/lua/%.lua=$(FUZZ_BUILD)/obj/gen/lua_%.o)
FUZZ_LIB      := $(FUZZ_BUILD)/libcatalogsync-fuzz.a
FUZZ_HDRS     := $(wildcard common/*.h workers/*.h)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/bin/%)

# Longest input per target: a few times the largest realistic seed.
FUZZ_MAXLEN_fuzz_event     := 16384
FUZZ_MAXLEN_fuzz_config    := 16384
FUZZ_MAXLEN_fuzz_graph     := 4096
FUZZ_MAXLEN_fuzz_woo       := 8192
FUZZ_MAXLEN_fuzz_money_map := 16384
FUZZ_MAXLEN_fuzz_httpd     := 4096
FUZZ_MAXLEN_fuzz_headers   := 4096
FUZZ_MAXLEN_fuzz_state     := 4096

FUZZ_DICT_fuzz_event     := $(FUZZ_DIR)/json.dict
FUZZ_DICT_fuzz_config    := $(FUZZ_DIR)/config.dict
FUZZ_DICT_fuzz_graph     := $(FUZZ_DIR)/json.dict
FUZZ_DICT_fuzz_woo       := $(FUZZ_DIR)/json.dict
FUZZ_DICT_fuzz_money_map := $(FUZZ_DIR)/json.dict
FUZZ_DICT_fuzz_httpd     := $(FUZZ_DIR)/http.dict
FUZZ_DICT_fuzz_headers   := $(FUZZ_DIR)/http.dict
FUZZ_DICT_fuzz_state     := $(FUZZ_DIR)/json.dict

# Per-target libFuzzer flags.  fuzz_config: libconfig 1.5 leaks a token on
# many syntax errors (lsan.supp), and every leaky run costs a full leak scan,
# so the timed run goes 8x faster without leak detection; run.sh replays the
# corpus with it afterwards.
FUZZ_OPTS_fuzz_config := -detect_leaks=0

FUZZ_LSAN = LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/$(FUZZ_DIR)/lsan.supp:print_suppressions=0}
FUZZ_UBSAN = UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

FUZZ_RUNS    := $(FUZZ_TARGETS:%=fuzz-run-%)
FUZZ_REGRESS := $(FUZZ_TARGETS:%=fuzz-regress-%)

.PHONY: fuzz fuzz-build fuzz-regress fuzz-clean $(FUZZ_RUNS) $(FUZZ_REGRESS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_RUNS)

fuzz-regress: $(FUZZ_REGRESS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_BUILD)/gen/lua_%.c: common/lua/%.lua $(LUA_PART) common/lua/lua2c.awk
	@mkdir -p $(dir $@)
	$(LUA2C) $< > $@.tmp && mv $@.tmp $@

$(FUZZ_BUILD)/obj/gen/%.o: $(FUZZ_BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/bin/%: $(FUZZ_DIR)/%.c $(FUZZ_LIB) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $< $(FUZZ_LIB) -o $@ $(FUZZ_PKG_LIBS)

# One timed run per target (tests/fuzz/run.sh): scratch corpus first, so the
# committed one is only read; artifacts and logs under $(FUZZ_BUILD).
$(FUZZ_RUNS): fuzz-run-%: $(FUZZ_BUILD)/bin/%
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MAXLEN=$(FUZZ_MAXLEN_$*) \
	    FUZZ_DICT=$(FUZZ_DICT_$*) FUZZ_FLAGS="$(FUZZ_OPTS_$*) $(FUZZ_FLAGS)" \
	    $(FUZZ_DIR)/run.sh $*

# Every committed seed once, no fuzzing: a quick check for CI and after a fix.
$(FUZZ_REGRESS): fuzz-regress-%: $(FUZZ_BUILD)/bin/%
	@$(FUZZ_UBSAN) $(FUZZ_LSAN) $< -runs=0 -max_len=$(FUZZ_MAXLEN_$*) $(FUZZ_DIR)/corpus/$* </dev/null \
	    >$(FUZZ_BUILD)/regress-$*.log 2>&1 \
	    && echo "fuzz-regress: $* ok ($$(ls $(FUZZ_DIR)/corpus/$* | wc -l) inputs)" \
	    || { cat $(FUZZ_BUILD)/regress-$*.log; exit 1; }
