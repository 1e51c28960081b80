# fesf: privacy-preserving federated training for medical imaging.
#   make            build bin/fesf
#   make deps       install the Debian packages the project needs
#   make check      build and run every test; last line "N passed, N failed"
#   make demo       run the main job on the embedded phantom data
#   make bench      benchmarks against the reference implementations (bench/README.md)
#   make asan       sanitizer build in build-asan/ (bin in build-asan/fesf)
#   make check SAN=1  every test on an AddressSanitizer + UBSan build in build-san/
#   make install PREFIX=/opt/fesf
# Developer/CI builds (DEV=1, or CI set in the environment) add -Werror.

PREFIX ?= /usr/local
# SAN=1: the library, the tests, the tools and the binary built with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-san/ (leak checks off: Open MPI's own allocations;
# the test probes are LD_PRELOADed before libasan, which the link-order check would refuse)
ifneq ($(SAN),)
BUILD := build-san
BIN := build-san/fesf
CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS := -fsanitize=address,undefined
export ASAN_OPTIONS := detect_leaks=0:verify_asan_link_order=0
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
endif
# FUZZ=1: the library and the fuzz harnesses built with clang for libFuzzer, with
# AddressSanitizer and UndefinedBehaviorSanitizer, in build-fuzz/ (make fuzz: tests/fuzz/run.sh)
ifneq ($(FUZZ),)
BUILD := build-fuzz
BIN := build-fuzz/fesf
CC := clang
CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS := -fsanitize=address,undefined
endif
BUILD ?= build
PKGS := ompi-c hdf5-openmpi fftw3f openblas inih libzip libpng cairo libsodium
TEST_PKGS := cmocka
# the clinical volume readers (src/io/nifti.c, src/io/dicom*.c): libnifti2 and DCMTK have no
# pkg-config file of their own that fits (dcmtk.pc lists every DCMTK library), so they are named here
VOL_CFLAGS := -I/usr/include/nifti
VOL_LIBS := -lnifti2 -lznz -ldcmjpeg -lijg8 -lijg12 -lijg16 -ldcmimgle -ldcmdata -loflog -lofstd -lz -lstdc++

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
ifeq ($(CC),clang)
CXX := clang++
endif
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifneq ($(or $(DEV),$(CI)),)
WARN += -Werror
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(WARN) -Iinclude $(PKG_CFLAGS) $(VOL_CFLAGS) $(CFLAGS) -fopenmp -MMD -MP
# C++ only for the DCMTK glue (src/io/*.cc), behind a C header
ALL_CXXFLAGS = -std=gnu++17 $(WARN) -Iinclude $(CFLAGS) -MMD -MP
LDLIBS = $(PKG_LIBS) -lfftw3f_mpi $(VOL_LIBS) -lm -fopenmp

# every room under src/ but the CLI goes into libfesf.a
LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
LIB_CXX_SRC := $(wildcard src/*/*.cc)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX_SRC:%.cc=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libfesf.a
BIN ?= bin/fesf

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(filter-out tests/tools/pmpi_sizes.c tests/tools/open_probe.c,$(wildcard tests/tools/*.c))
FUZZ_NAMES := ini npz shard
# each harness also as a plain replayer of files (tests/fuzz/replay.c): make check runs the
# seeds and every crash's regression input through them (tests/e2e/fuzz_regress.sh)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%) $(BUILD)/tools/libpmpi_sizes.so $(BUILD)/tools/libopen_probe.so \
	$(FUZZ_NAMES:%=$(BUILD)/tools/replay_%)

.PHONY: all deps check unit demo bench asan install clean help check-slurm fuzz fuzz-bins
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(TEST_PKGS)) -o $@ $< $(LIB) \
		$(LDLIBS) $(shell pkg-config --libs $(TEST_PKGS))

$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tools/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/fuzz/replay.c $< $(LIB) $(LDLIBS)

# libFuzzer harnesses (FUZZ=1 builds them with clang): make fuzz builds and runs them
fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)
fuzz:
	@sh tests/fuzz/run.sh

# PMPI probe that tests/e2e/mpi.sh and privacy_mpi.sh preload into mpirun'd ranks (a shared library, no libfesf)
$(BUILD)/tools/libpmpi_sizes.so: tests/tools/pmpi_sizes.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) $(shell pkg-config --cflags ompi-c) $(CFLAGS) -shared -fPIC $< -o $@ $(shell pkg-config --libs ompi-c)

# open() probe that tests/e2e/privacy.sh preloads: which rank opens which shard
$(BUILD)/tools/libopen_probe.so: tests/tools/open_probe.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -shared -fPIC $< -o $@ -ldl

deps:
	@sh jobs/install-deps.sh

unit: $(UNIT_BIN)

check: $(BIN) $(UNIT_BIN) $(TOOL_BIN)
	@BUILD=$(BUILD) FESF=$(abspath $(BIN)) SAN_SUBSET=$(if $(SAN),,1) sh tests/run.sh

# The SLURM job scripts on a one-node SLURM cluster started on localhost (root; installs
# slurm-wlm and munge first; starts and stops its own daemons): tests/slurm/check-slurm.sh
check-slurm: $(BIN)
	@sh jobs/install-slurm.sh
	@FESF=$(abspath $(BIN)) bash tests/slurm/check-slurm.sh

# installs what is missing first (to build and run only: no test or Python packages),
# so a fresh clone needs only `make demo`
demo:
	@sh jobs/install-deps.sh --run
	@$(MAKE) --no-print-directory $(BIN)
	@sh jobs/demo.sh

# Benchmarks (not timed tests): ratios against references measured in the same run.
bench: $(BIN)
	/usr/bin/python3 bench/ihm_numpy.py --fesf $(BIN)
	/usr/bin/python3 bench/train_torch.py --fesf $(BIN)

# Sanitizer build: the same sources in build-asan/, binary build-asan/fesf.
asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/fesf \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined" build-asan/fesf

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/fesf/configs $(DESTDIR)$(PREFIX)/share/fesf/jobs
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/fesf
	install -m 644 configs/*.ini configs/README.md $(DESTDIR)$(PREFIX)/share/fesf/configs/
	install -m 755 jobs/*.sh $(DESTDIR)$(PREFIX)/share/fesf/jobs/
	@for f in jobs/*.sbatch; do [ -e "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(PREFIX)/share/fesf/jobs/; done; true

clean:
	rm -rf build build-asan bin

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
