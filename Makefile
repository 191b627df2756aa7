# Tally - non-recursive Makefile.
#
#   make              bin/tally-agent and bin/tally-collector
#   make deps         install missing Debian packages (apt-get, as root)
#   make demo         collector + agent on SQLite: events in, usage out
#   make check        deps, build, unit tests, fuzz-corpus replay,
#                     integration tests, then unit tests under ASan+UBSan
#   make fuzz         libFuzzer on the event parser and wire decoder
#                     (FUZZ_TIME seconds each, default 60)
#   make bench        the performance table (bench/bench.py; BENCH_* sizes)
#   make install      PREFIX=/usr/local DESTDIR=
#   make SANITIZE=1   everything built with ASan + UBSan (in build/san/)

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
FUZZ_TIME ?= 60
CC        ?= cc
VERSION   := 0.1.0

# Each binary links only what it calls: every library mapped at start-up
# costs resident pages (relocations, constructors) even if never used, and
# the agent runs on small devices (RSS target: DESIGN.md, `make bench` 8).
# libpq is for the PostgreSQL store; no code calls it yet.
COMMON_PKGS := zlib sqlite3 libcjson libmicrohttpd gmp inih
AGENT_PKGS  := $(COMMON_PKGS) libcurl libxxhash
COLL_PKGS   := $(COMMON_PKGS) libcrypto libpq libxxhash
PKGS := $(sort $(AGENT_PKGS) $(COLL_PKGS))
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpaho-mqtt3as
AGENT_LIBS = $(shell pkg-config --libs $(AGENT_PKGS) 2>/dev/null) -lpaho-mqtt3as
COLL_LIBS  = $(shell pkg-config --libs $(COLL_PKGS) 2>/dev/null) -lpaho-mqtt3as
TEST_LIBS  = $(shell pkg-config --libs cmocka 2>/dev/null)

# Debian packages: build, test and run.  `make deps` installs the missing.
DEB_PKGS := build-essential pkg-config clang libclang-rt-dev \
	libcurl4-openssl-dev libpaho-mqtt-dev libssl-dev zlib1g-dev libsqlite3-dev \
	libcjson-dev libmicrohttpd-dev libgmp-dev libpq-dev libinih-dev \
	libcmocka-dev libxxhash-dev mosquitto mosquitto-clients postgresql python3 openssl \
	curl tzdata

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wpointer-arith -Wundef \
	-Wno-format-nonliteral
CPPFLAGS += -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
	-DTALLY_VERSION='"$(VERSION)"' -Ishared
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 $(WARN) -pthread
# Record a library as needed only if a symbol is taken from it, whatever
# the toolchain's default.
LDFLAGS += -Wl,--as-needed

ifeq ($(SANITIZE),1)
B := build/san
BIN := build/san/bin
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
B := build
BIN := bin
endif

SHARED_SRC := $(wildcard shared/*.c)
AGENT_SRC  := $(filter-out agent/main.c,$(wildcard agent/*.c))
COLL_SRC   := $(filter-out collector/main.c,$(wildcard collector/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

LIBTALLY := $(B)/libtally.a
LIBAGENT := $(B)/libagent.a
LIBCOLL  := $(B)/libcollector.a
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(B)/tests/replay_%)

.PHONY: all deps check check-build unit replay integration fuzz install \
	clean demo bench
.DEFAULT_GOAL := all

all: $(BIN)/tally-agent $(BIN)/tally-collector

# V=1 shows the commands.
Q := $(if $(V),,@)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBTALLY): $(SHARED_SRC:%.c=$(B)/%.o)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(LIBAGENT): $(AGENT_SRC:%.c=$(B)/%.o)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(LIBCOLL): $(COLL_SRC:%.c=$(B)/%.o)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BIN)/tally-agent: $(B)/agent/main.o $(LIBAGENT) $(LIBTALLY)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS) -lm

$(BIN)/tally-collector: $(B)/collector/main.o $(LIBCOLL) $(LIBTALLY)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(COLL_LIBS) -lm

# Unit tests reach into the programs' modules; each links every library
# and the linker takes what it needs.
$(B)/tests/unit/%.o: CPPFLAGS += -Iagent -Icollector

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBAGENT) $(LIBCOLL) $(LIBTALLY)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS) -lm

# The fuzz targets, built without libFuzzer, replaying the seed corpus.
$(B)/tests/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay.o $(LIBTALLY)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null && command -v npm >/dev/null || \
	  missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

# pkg-config answers only once deps are in, so check re-enters make.
NPROC := $(shell nproc 2>/dev/null || echo 2)

check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) check-build
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory replay
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory -j$(NPROC) SANITIZE=1 check-build
	@$(MAKE) --no-print-directory SANITIZE=1 replay
	@$(MAKE) --no-print-directory SANITIZE=1 unit

check-build: all $(UNIT_BIN) $(REPLAY_BIN)

unit: $(UNIT_BIN)
	@tests/run_unit.sh $(UNIT_BIN)

replay: $(REPLAY_BIN)
	@for t in $(REPLAY_BIN); do \
	  n=$${t##*/replay_}; \
	  $$t tests/fuzz/corpus/$$n || exit 1; \
	done

integration: all
	@tests/integration/run.sh

# libFuzzer needs clang; its build lives apart from the gcc one.
FZ := build/fuzz
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
$(FZ)/fuzz_%: tests/fuzz/fuzz_%.c $(SHARED_SRC) $(wildcard shared/*.h)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(SHARED_SRC) \
	  $(PKG_LIBS) -lm

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(FZ)/fuzz_%)
	@for f in $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%); do \
	  mkdir -p $(FZ)/corpus-$$f; \
	  echo "fuzz: $$f for $(FUZZ_TIME)s"; \
	  $(FZ)/fuzz_$$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FZ)/crash-$$f- \
	    $(FZ)/corpus-$$f tests/fuzz/corpus/$$f 2>$(FZ)/$$f.log || \
	    { tail -40 $(FZ)/$$f.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::new_units_added' $(FZ)/$$f.log; \
	done

# Collector + agent on SQLite in a temp dir: events in, usage out.
demo: deps
	@$(MAKE) --no-print-directory all
	@packaging/demo.sh

# The performance table: agent, collector and their limits, measured in
# one run (bench/bench.py; sizes through BENCH_* variables).  Not part of
# check.  The tools are built apart from the sanitizer builds.
BENCH_TOOLS := build/bench/limit build/bench/loadgen build/bench/rssfloor

build/bench/limit: bench/limit.c bench/bench_event.h agent/seen.h agent/buf_schema.h
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) -Iagent -O2 -g -std=c11 $(WARN) \
	  $(shell pkg-config --cflags sqlite3 libxxhash) -o $@ $< \
	  $(shell pkg-config --libs sqlite3 libxxhash)

build/bench/loadgen: bench/loadgen.c bench/bench_event.h
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) -O2 -g -std=c11 $(WARN) \
	  $(shell pkg-config --cflags libcurl) -o $@ $< \
	  $(shell pkg-config --libs libcurl)

# Linked with the agent's libraries, each kept though unused (bench 8).
build/bench/rssfloor: bench/rssfloor.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) -O2 -g -std=c11 $(WARN) \
	  $(shell pkg-config --cflags libcurl) -o $@ $< \
	  -Wl,--no-as-needed $(AGENT_LIBS) -lm

bench: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all $(BENCH_TOOLS)
	@python3 bench/bench.py

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 bin/tally-agent bin/tally-collector $(DESTDIR)$(BINDIR)

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
