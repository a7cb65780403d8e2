# tern build.  `make` builds build/tern and the library; `make check` runs
# every test (unit, simulation, interop) and then the whole suite again
# under ASan+UBSan; `make demo` runs the main job.

ifeq ($(origin CC),default)
CC = gcc
endif
BUILD ?= build
SAN ?=
OPT ?= -O2
CFLAGS_BASE = -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-unused-parameter -fno-strict-aliasing -D_GNU_SOURCE -Iinclude -Isrc -Itests/lib
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS += $(CFLAGS_BASE)
LDLIBS += -lm
# AF_XDP (src/link/af_xdp.c): Debian's libxdp-dev and libbpf-dev, when
# present (scripts/install-deps installs them; without them `make demo`
# still builds, and --driver af_xdp says tern was built without it).
ifeq ($(shell pkg-config --exists libxdp libbpf 2>/dev/null && echo y),y)
CFLAGS += -DTERN_HAVE_XDP=1
LDLIBS += $(shell pkg-config --libs libxdp libbpf)
endif

LIB_SRCS := $(sort $(wildcard src/*/*.c))
TOOL_SRCS := $(sort $(wildcard tools/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
SIM_SRCS := $(sort $(wildcard tests/sim/sim_*.c))
TESTLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
BENCH_SRCS := $(sort $(wildcard bench/*.c))

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
SIM_BINS := $(SIM_SRCS:tests/sim/%.c=$(BUILD)/tests/sim/%)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib tests check check-build check-san demo fuzz bench soak clean deps

all: $(BUILD)/tern $(BUILD)/libtern.a

lib: $(BUILD)/libtern.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtern.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tern: $(TOOL_OBJS) $(BUILD)/libtern.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(BUILD)/libtern.a $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJS) $(BUILD)/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_EXTRA_OBJS) $(TESTLIB_OBJS) $(BUILD)/libtern.a -lcmocka $(LDLIBS)

# test_plot tests tools/plot.c, which is otherwise only in build/tern.
$(BUILD)/tests/unit/test_plot: $(BUILD)/obj/tools/plot.o
$(BUILD)/tests/unit/test_plot: TEST_EXTRA_OBJS = $(BUILD)/obj/tools/plot.o

$(BUILD)/tests/sim/%: $(BUILD)/obj/tests/sim/%.o $(TESTLIB_OBJS) $(BUILD)/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJS) $(BUILD)/libtern.a -lcmocka $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libtern.a $(LDLIBS)

tests: all $(UNIT_BINS) $(SIM_BINS) $(BENCH_BINS)

# libtern-packetdrill.so: the library built position-independent, with
# packetdrill's shared-object interface (packetdrill/); it exports
# packetdrill_interface_init only.  sim_packetdrill dlopen()s it.
PIC_OBJS := $(LIB_SRCS:%.c=$(BUILD)/pic/%.o) $(BUILD)/pic/packetdrill/tern_packetdrill.o
PDRILL_SO := $(BUILD)/libtern-packetdrill.so

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(PDRILL_SO): $(PIC_OBJS) packetdrill/exports.map
	$(CC) $(LDFLAGS) -shared -pthread -Wl,--version-script=packetdrill/exports.map -o $@ $(PIC_OBJS) $(LDLIBS)

tests: $(PDRILL_SO)
$(BUILD)/tests/sim/sim_packetdrill: $(PDRILL_SO)
$(BUILD)/tests/sim/sim_packetdrill: LDLIBS += -ldl -pthread

NPROC := $(shell nproc 2>/dev/null || echo 2)

# The README's test command.  Installs what it needs when run as root.
check:
	@scripts/install-deps
	$(MAKE) -j$(NPROC) check-build CC=gcc BUILD=build
	scripts/run-tests build
	$(MAKE) -j$(NPROC) check-build CC=clang BUILD=build-san SAN=1 OPT=-O1
	scripts/run-tests build-san

check-build:
	$(MAKE) tests

demo: $(BUILD)/tern
	$(BUILD)/tern demo

deps:
	scripts/install-deps

FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

bench: $(BUILD)/tern $(BENCH_BINS)
	scripts/bench

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJS:.o=.d) $(TOOL_OBJS:.o=.d) $(TESTLIB_OBJS:.o=.d)
-include $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/obj/tests/unit/%.d)
-include $(SIM_SRCS:tests/sim/%.c=$(BUILD)/obj/tests/sim/%.d)
-include $(BENCH_SRCS:bench/%.c=$(BUILD)/obj/bench/%.d)
-include $(PIC_OBJS:.o=.d)
