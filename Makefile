# cerebro-ds top-level Makefile.
#
#   make            binaries in build/bin/
#   make deps       install the Debian packages the build and tests need (idempotent)
#   make check      deps + build + C unit tests + bats integration tests
#   make unit       C unit tests only          make bats   integration tests only
#   make asan       build with ASan+UBSan into build/asan and run the unit tests there
#   make fuzz       libFuzzer targets (clang), each run FUZZ_SECONDS (default 60); a failing
#                   input is written to build/fuzz/TARGET-crash-...
#   make bench      benchmarks in bench/ (figures as ratios against a peer; rewrites the
#                   latest-figures section of bench/RESULTS.md)
#   make demo       PostgreSQL -> mount -> cerebro-sched -> test accuracy, on this machine
#                   (tests/lib/demo.sh; state in .demo/); make demo-clean removes it
#   make install    binaries, mount helpers, CUDA backend, config, unit, tmpfiles entry, man
#                   pages, example models and workloads (PREFIX DESTDIR SYSCONFDIR MANDIR
#                   UNITDIR TMPFILESDIR SBINDIR); make uninstall removes them
#   make deb        Debian packages (packaging/debian) into build/packages/
#   make rpm        RPM packages (packaging/rpm/cerebro-ds.spec) into build/packages/
#   make check-packaging  build both, lintian, rpmlint, install into a clean Debian 12 root,
#                   the unit, fstab, upgrades (tests/packaging/; root and network needed)
#   make clean
#
# Switches: SAN=1 (sanitizers), OPT=0 (no optimisation), BUILD=dir.

SHELL := /bin/bash
# `make` alone is `make all`, whatever rule an included makefile (mk/cuda.mk) defines first.
.DEFAULT_GOAL := all
SAN ?= 0
OPT ?= 1
ifeq ($(filter $(SAN),0 1),)
$(error SAN must be 0 or 1, not '$(SAN)')
endif
ifeq ($(filter $(OPT),0 1),)
$(error OPT must be 0 or 1, not '$(OPT)')
endif

BUILD ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
FUZZ_SECONDS ?= 60
# The version is the Debian changelog's (packaging/debian/changelog), one source for all.
VERSION := $(shell awk -F '[()]' 'NR == 1 {print $$2}' packaging/debian/changelog 2>/dev/null)
ifeq ($(VERSION),)
VERSION := 0.0.0
endif

PKGS := libpq liblz4 inih openblas
HAVE_PKGS := $(shell $(PKG_CONFIG) --exists $(PKGS) fuse3 2>/dev/null && echo yes)

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
	-MMD -MP -Icommon -Itrainer -Itrainer/ops -Ischeduler -DCD_VERSION='"$(VERSION)"'
ifeq ($(OPT),1)
CFLAGS_BASE += -O2
else
CFLAGS_BASE += -O0
endif
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS := $(CFLAGS_BASE) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
LIBS := $(PKG_LIBS) -lpthread -lm $(LDFLAGS_SAN) $(LDFLAGS)

# fuse/ is in layers (fuse/README.md), and each layer's objects see only the headers of the
# layers below it: pg (the on-disk format) <- table (shards, column files, the served table,
# the cache) <- admin (cerebro-ds) and mount (cerebro-ds-fuse, the only FUSE code). An
# include that goes up does not compile. The FUSE front end (fuse/mount) and the mains stay
# out of the library: the decoder library knows nothing of FUSE. The trainer's CUDA backend
# (trainer/backend_cuda.c) too: a CUDA build makes it $(CUDA_SO), which the library's
# backend_dl.c loads for --device cuda.
FUSE_PG_INC := -Ifuse/pg
FUSE_TABLE_INC := -Ifuse/table $(FUSE_PG_INC)
FUSE_ALL_INC := -Ifuse/admin -Ifuse/mount $(FUSE_TABLE_INC)
LIB_SRC := $(wildcard common/*.c) $(wildcard fuse/pg/*.c fuse/table/*.c) \
	$(filter-out fuse/admin/main_%.c,$(wildcard fuse/admin/*.c)) \
	$(filter-out trainer/main_%.c trainer/backend_cuda.c,$(wildcard trainer/*.c trainer/ops/*.c)) \
	$(filter-out scheduler/main_%.c,$(wildcard scheduler/*.c))
FS_SRC := $(wildcard fuse/mount/fs_*.c)
FS_OBJ := $(FS_SRC:%.c=$(BUILD)/obj/%.o)
FUSE_CFLAGS := $(shell $(PKG_CONFIG) --cflags fuse3 2>/dev/null)
FUSE_LIBS := $(shell $(PKG_CONFIG) --libs fuse3 2>/dev/null)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_A := $(BUILD)/libcerebro.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# CUDA (mk/cuda.mk prints what it found; CUDA=0 disables, CUDA=1 requires): the .cu bodies
# of the ops and the CUDA backend (CUDA_TRAIN_OBJ) link into cerebro-train (--device cuda)
# and into tests/cuda/test_ops_cuda and test_net_cuda, which compare them with the CPU path
# on a GPU and say they skipped when there is none. This is the one place the backend is
# chosen.
include mk/cuda.mk
UNIT_BIN += $(CUDA_TEST)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
TOOL_SRC := $(wildcard tests/tools/*.c) $(wildcard bench/*.c)
TOOL_BIN := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOL_SRC)))
BINS := $(BUILD)/bin/cerebro-ds $(BUILD)/bin/cerebro-ds-fuse \
	$(BUILD)/bin/cerebro-train $(if $(wildcard scheduler/main_cerebro_sched.c),$(BUILD)/bin/cerebro-sched) \
	$(CUDA_SO)

.PHONY: all deps check unit bats asan fuzz bench clean format found
all: found $(BINS) $(BUILD)/bin/mount.fuse.cerebro-ds $(TOOL_BIN)

# mount(8) runs /sbin/mount.fuse.cerebro-ds for fstab type fuse.cerebro-ds: the daemon itself,
# which takes mount's helper arguments when called by that name.
$(BUILD)/bin/mount.fuse.cerebro-ds: | $(BUILD)/bin/cerebro-ds-fuse
	ln -sf cerebro-ds-fuse $@

found:
ifneq ($(HAVE_PKGS),yes)
	@echo "missing build dependencies ($(PKGS) fuse3 via pkg-config): run 'make deps'" >&2; exit 1
endif
	@echo "found: $(PKGS) fuse3 ($(shell $(PKG_CONFIG) --modversion $(PKGS) fuse3 2>/dev/null | tr '\n' ' '))"

# Rebuild everything when the switches change.
FLAGS_FILE := $(BUILD)/.flags
$(shell mkdir -p $(BUILD) && echo '$(ALL_CFLAGS) $(LIBS)' > $(FLAGS_FILE).new && \
	(cmp -s $(FLAGS_FILE).new $(FLAGS_FILE) || mv $(FLAGS_FILE).new $(FLAGS_FILE)); rm -f $(FLAGS_FILE).new)

$(BUILD)/obj/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/cerebro-ds: $(BUILD)/obj/fuse/admin/main_cerebro_ds.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS)

# -rdynamic: the CUDA backend, a shared object, uses the trainer's own functions.
$(BUILD)/bin/cerebro-train: $(BUILD)/obj/trainer/main_cerebro_train.o $(LIB_A) | $(CUDA_SO)
	@mkdir -p $(dir $@)
	$(CC) -rdynamic -o $@ $(filter %.o %.a,$^) $(LIBS) -ldl

$(BUILD)/bin/cerebro-sched: $(BUILD)/obj/scheduler/main_cerebro_sched.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS)

$(BUILD)/obj/fuse/pg/%.o: ALL_CFLAGS += $(FUSE_PG_INC)
$(BUILD)/obj/fuse/table/%.o: ALL_CFLAGS += $(FUSE_TABLE_INC)
$(BUILD)/obj/fuse/admin/%.o: ALL_CFLAGS += -Ifuse/admin $(FUSE_TABLE_INC)
$(BUILD)/obj/fuse/mount/%.o: ALL_CFLAGS += -Ifuse/mount $(FUSE_TABLE_INC) $(FUSE_CFLAGS)
# the in-DBMS data path parses COPY BINARY with the pg layer, and the scheduler's Citus
# discovery queries through it; tests and tools see every layer
$(BUILD)/obj/trainer/data_pg.o: ALL_CFLAGS += $(FUSE_PG_INC)
$(BUILD)/obj/scheduler/discover.o: ALL_CFLAGS += $(FUSE_PG_INC)
$(BUILD)/obj/tests/%.o $(BUILD)/obj/bench/%.o: ALL_CFLAGS += $(FUSE_ALL_INC)

# The CPU op bodies are loops over tensors: -O3 vectorises them (for the generic x86-64
# target the packages build for; the GEMMs dispatch on the CPU inside OpenBLAS), and
# -fno-math-errno lets sqrtf be one instruction (errno is never read; results are the same).
ifeq ($(OPT),1)
$(BUILD)/obj/trainer/ops/%.o: ALL_CFLAGS += -O3 -fno-math-errno
endif

$(BUILD)/bin/cerebro-ds-fuse: $(BUILD)/obj/fuse/mount/main_cerebro_ds_fuse.o $(FS_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(FUSE_LIBS) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/bench/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS)

unit: found $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $$t || { echo "FAILED: $$t"; fail=1; }; done; \
	exit $$fail

bats: all
	bats --timing tests/

deps:
	@tests/lib/deps.sh

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) bats

# Unit tests, then the integration tests of the decoder (corrupt input included), the trainer
# and the scheduler on the sanitized binaries; any ASan/UBSan report fails the run.
ASAN_BATS := tests/10-types.bats tests/20-mvcc.bats tests/30-corrupt.bats tests/55-vtable.bats \
	tests/46-madlib.bats tests/64-citus.bats tests/80-trainer.bats tests/81-schedules.bats \
	tests/90-simulate.bats tests/92-sched.bats tests/94-copy.bats tests/66-citus-sched.bats \
	tests/54-bounds.bats
asan:
	$(MAKE) BUILD=build/asan SAN=1 all unit
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		CD_BIN_DIR=$(CURDIR)/build/asan/bin bats $(ASAN_BATS)

FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Icommon -Itrainer -Ischeduler $(FUSE_ALL_INC) -DCD_VERSION='"$(VERSION)"' $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined
# the fuzz targets exercise the decoder and the readers of hostile files: common/, fuse/ and
# the trainer's checkpoint and model file readers, the scheduler's readers of workload files
# and of its journal, estimates and workers files
FUZZ_LIB_SRC := $(filter common/% fuse/%,$(LIB_SRC)) scheduler/journal.c scheduler/estimate.c \
	scheduler/cluster.c scheduler/launch.c $(wildcard scheduler/workload*.c) \
	scheduler/discover.c scheduler/policy.c scheduler/rows.c trainer/ckpt.c trainer/model.c \
	trainer/lr_schedule.c trainer/augment.c trainer/data_pg.c
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(FUZZ_LIB_SRC) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(PKG_LIBS) -lpthread -lm

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); \
		mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$n- \
			$(BUILD)/fuzz/corpus-$$n tests/fuzz/seeds/$$n 2>&1 | \
			grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|runtime error|Test unit written|Done' ; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; done

bench: all
	bench/run.sh

# make demo (README "Demo"): deps, build, then tests/lib/demo.sh: a PostgreSQL 15 cluster in
# STATE (default .demo), Fashion-MNIST tables, a cerebro-ds-fuse mount, cerebro-sched on
# conf/workloads/fashion-demo.ini, the best model's test accuracy. make demo-clean removes
# STATE. Knobs, as make variables: SHARDS ROWS TEST_ROWS EPOCHS MIN_ACC STATE MOUNT THREADS.
DEMO_KNOBS := SHARDS ROWS TEST_ROWS EPOCHS MIN_ACC STATE MOUNT THREADS
DEMO_ENV = $(foreach v,$(DEMO_KNOBS),$(if $(filter-out undefined,$(origin $(v))),$(v)='$($(v))'))
.PHONY: demo demo-clean
demo: deps
	$(MAKE) all
	$(DEMO_ENV) tests/lib/demo.sh

demo-clean:
	$(DEMO_ENV) tests/lib/demo.sh clean

# ---- install (packaging/ builds the packages with it) ----
# The CUDA backend goes to BINDIR/../lib/cerebro-ds, where cerebro-train looks for it; mount(8)
# looks for helpers only in /sbin (SBINDIR); systemd reads units and tmpfiles.d entries from
# /usr/local/lib too. An existing SYSCONFDIR/cerebro-ds/cerebro-ds.conf is never overwritten.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= /sbin
SYSCONFDIR ?= /etc
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/cerebro-ds
UNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
CUDALIBDIR := $(BINDIR)/../lib/cerebro-ds
# the mount helpers (links to the daemon) and their man pages (links to the daemon's)
HELPERS := mount.fuse.cerebro-ds mount.cerebro-ds
MANPAGES := docs/cerebro-ds-fuse.8 docs/cerebro-ds.1 docs/cerebro-train.1 docs/cerebro-sched.1 \
	docs/cerebro-ds.conf.5
INSTALL ?= install
D := $(DESTDIR)
CONF_DEST := $(D)$(SYSCONFDIR)/cerebro-ds/cerebro-ds.conf
# the helpers' symlinks are relative (/usr/sbin -> ../bin/cerebro-ds-fuse), as Debian wants
HELPER_TARGET = $(shell realpath -m --relative-to=$(SBINDIR) $(BINDIR))/cerebro-ds-fuse
UNIT_DEST := $(D)$(UNITDIR)/cerebro-ds-fuse@.service

.PHONY: install uninstall deb rpm check-packaging
install: all
	$(INSTALL) -d $(D)$(BINDIR) $(D)$(SBINDIR) $(D)$(SYSCONFDIR)/cerebro-ds $(D)$(UNITDIR) \
		$(D)$(TMPFILESDIR) $(D)$(DATADIR)/models $(D)$(DATADIR)/workloads \
		$(addprefix $(D)$(MANDIR)/man,1 5 8)
	$(INSTALL) -m 755 $(BUILD)/bin/cerebro-ds-fuse $(BUILD)/bin/cerebro-ds \
		$(BUILD)/bin/cerebro-train $(BUILD)/bin/cerebro-sched $(D)$(BINDIR)/
	for h in $(HELPERS); do ln -sf $(HELPER_TARGET) $(D)$(SBINDIR)/$$h; done
	$(if $(CUDA_SO),$(INSTALL) -d $(D)$(CUDALIBDIR) && \
		$(INSTALL) -m 644 $(CUDA_SO) $(D)$(CUDALIBDIR)/)
	@if [ -e $(CONF_DEST) ]; then echo "install: keeping $(CONF_DEST)"; \
	else $(INSTALL) -m 644 conf/cerebro-ds.conf $(CONF_DEST); fi
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/systemd/cerebro-ds-fuse@.service.in >$(UNIT_DEST)
	chmod 644 $(UNIT_DEST)
	$(INSTALL) -m 644 packaging/systemd/cerebro-ds.tmpfiles $(D)$(TMPFILESDIR)/cerebro-ds.conf
	for m in $(MANPAGES); do $(INSTALL) -m 644 $$m $(D)$(MANDIR)/man$${m##*.}/; done
	for h in $(HELPERS); do echo '.so man8/cerebro-ds-fuse.8' >$(D)$(MANDIR)/man8/$$h.8; done
	$(INSTALL) -m 644 conf/models/*.ini $(D)$(DATADIR)/models/
	$(INSTALL) -m 644 conf/workloads/*.ini $(D)$(DATADIR)/workloads/

# The configuration stays when it was edited (it differs from conf/cerebro-ds.conf).
uninstall:
	rm -f $(addprefix $(D)$(BINDIR)/,cerebro-ds-fuse cerebro-ds cerebro-train cerebro-sched) \
		$(addprefix $(D)$(SBINDIR)/,$(HELPERS)) \
		$(D)$(CUDALIBDIR)/libcerebro-cuda.so $(UNIT_DEST) $(D)$(TMPFILESDIR)/cerebro-ds.conf \
		$(foreach m,$(MANPAGES),$(D)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
		$(foreach h,$(HELPERS),$(D)$(MANDIR)/man8/$(h).8)
	rm -rf $(D)$(DATADIR)
	-rmdir $(D)$(CUDALIBDIR) 2>/dev/null
	@if cmp -s conf/cerebro-ds.conf $(CONF_DEST); then rm -f $(CONF_DEST); \
		rmdir $(D)$(SYSCONFDIR)/cerebro-ds 2>/dev/null || true; \
	elif [ -e $(CONF_DEST) ]; then echo "uninstall: keeping the edited $(CONF_DEST)"; fi

deb:
	@tests/lib/deps.sh packaging
	packaging/build-deb.sh $(BUILD)/packages

rpm:
	@tests/lib/deps.sh packaging
	packaging/build-rpm.sh $(BUILD)/packages

# The upgrade tests install VERSION.1 over VERSION (rpm: a second build, without CUDA).
check-packaging: all deb rpm
	PKG_VERSION=$(VERSION).1 CUDA=0 packaging/build-rpm.sh $(BUILD)/packages
	bats --timing tests/packaging/

# make print-VAR: the value of a variable (packaging/ asks CUDA_ENABLED)
print-%:
	@echo '$($*)'

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
