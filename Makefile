# aesweep - build, test and demo.  `make help` says what each target is for.
#
# `make` builds build/aesweep with the CPU backend and, when nvcc is on the PATH,
# the CUDA backend too (CUDA=0 turns that off).  No target needs a GPU except test-gpu and gpu-session.

CC       ?= cc
NVCC     ?= nvcc
PYTHON   ?= python3
# `python3 -m aesweep.NAME` runs this checkout's package (analysis/aesweep/), installed or not
export PYTHONPATH := $(CURDIR)/analysis$(if $(PYTHONPATH),:$(PYTHONPATH))
BUILD    := build
# make MPI=1: build/mpi/aesweep, for `mpirun -np N build/mpi/aesweep run ...`, with OpenMPI
# and parallel HDF5 (libhdf5-openmpi-dev, openmpi-bin): ranks split the runs, one file.
MPI      ?= 0
ifeq ($(MPI),1)
CC       := mpicc
BUILD    := build/mpi
CUDA     := 0
endif
CUDA_HOME ?= /usr/local/cuda

# Serial HDF5 by name: with OpenMPI's HDF5 also installed, Debian may point plain "hdf5" at it.
HDF5_PC     := $(shell pkg-config --exists hdf5-serial 2>/dev/null && echo hdf5-serial || echo hdf5)
ifeq ($(MPI),1)
HDF5_PC     := hdf5-openmpi
endif
HDF5_CFLAGS := $(shell pkg-config --cflags $(HDF5_PC) 2>/dev/null || echo -I/usr/include/hdf5/serial)
HDF5_LIBDIR := $(firstword $(patsubst -L%,%,$(filter -L%,$(shell pkg-config --libs $(HDF5_PC) 2>/dev/null))))
HDF5_LIBDIR := $(or $(HDF5_LIBDIR),/usr/lib/x86_64-linux-gnu/hdf5/serial)
GIT_COMMIT  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# -ffp-contract=off: no silent FMA contraction, so the CPU's float math is what the source says.
BASE_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Wshadow -Werror -ffp-contract=off -fno-math-errno -fopenmp \
               -Iinclude -Isrc/format -I$(BUILD) $(HDF5_CFLAGS)
CFLAGS   := $(BASE_CFLAGS) $(if $(filter 1,$(MPI)),-DAE_HAVE_MPI)
# -llapacke: the Hessian's eigenvalues (src/trust/stability.c), with Debian's reference LAPACK and BLAS
LDLIBS   := -L$(HDF5_LIBDIR) -Wl,-rpath,$(HDF5_LIBDIR) -lconfig -lhdf5_hl -lhdf5 -llapacke -lm
LDFLAGS  := -fopenmp

# The CUDA backend, when nvcc is here and not turned off (the MPI build is CPU-only: CUDA=1 asks).
CUDA ?= $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
# Hopper (sm_90) machine code plus PTX that newer GPUs compile at load; for another GPU:
# make NVCC_GENCODE="-gencode arch=compute_80,code=sm_80" (A100), "-arch=sm_89" (RTX 40xx) or
# "-arch=native" (the GPU of this machine).
NVCC_GENCODE ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS := -O3 -std=c++17 -Iinclude -Xcompiler -Wall,-Wextra $(NVCC_GENCODE)

# src/<job>/*.c: config, backends, format (the HDF5 file), trust, util: the library the tests
# link; src/cli/*.c: the command line on top of it (DESIGN.md section 8)
LIB_SRC  := $(filter-out src/cli/% src/backends/cuda.c,$(wildcard src/*/*.c src/backends/lanes/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(wildcard src/cli/*.c))
ifeq ($(CUDA),1)
CFLAGS   += -DAE_HAVE_CUDA -I$(CUDA_HOME)/include -Ikernels
CU_OBJ   := $(patsubst kernels/%.cu,$(BUILD)/obj/cu_%.o,$(wildcard kernels/*.cu))
LIB_OBJ  += $(BUILD)/obj/backends/cuda.o $(CU_OBJ)
LDLIBS   += -L$(CUDA_HOME)/lib64 -lcudart_static -lstdc++ -ldl -lrt -lpthread
endif
# the headers kernels/*.cu include (g++ -MM shows them): the math and kernels/*.cuh; host
# objects also the rest of include/ and src/<job>/'s own headers
KERNEL_HEADERS := include/ae_model.h include/ae_outcome.h include/ae_rng.h include/ae_util.h \
                  $(wildcard include/*.inc kernels/*.cuh)
HEADERS  := $(wildcard include/*.h include/*.inc kernels/*.cuh src/*/*.h src/*/*.inc src/*/*/*.h)

.PHONY: FORCE all mpi deps demo test test-unit test-python sanitize fuzz fuzz-h5 test-gpu-emu test-gpu test-gpu-session \
        gpu-bundle gpu-session sass bench findings docs install clean help

all: $(BUILD)/aesweep  ## build build/aesweep (CPU backend, plus CUDA when nvcc is on the PATH)

# Objects depend on the flags they were built with, so `make CUDA=0` then `make` rebuilds.
$(BUILD)/flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(NVCCFLAGS) $(CUDA)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(NVCCFLAGS) $(CUDA)' > $@

# The CPU backend's lane loops (one file per instance: src/backends/lanes/cpu_lanes.h) need
# GCC's full vectoriser (-O3); the lanes stay bit-exact.
$(BUILD)/obj/backends/cpu.o: CFLAGS += -O3
$(BUILD)/obj/backends/lanes/%.o: CFLAGS += -O3

# The commit the binary was built from, for the output's provenance.
$(BUILD)/ae_commit.h: FORCE
	@mkdir -p $(BUILD)
	@echo '#define AE_GIT_COMMIT "$(GIT_COMMIT)"' | cmp -s - $@ || echo '#define AE_GIT_COMMIT "$(GIT_COMMIT)"' > $@

$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(BUILD)/flags $(BUILD)/ae_commit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/cu_%.o: kernels/%.cu $(KERNEL_HEADERS) $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/aesweep: $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The unit tests also check our Philox against cuRAND's host generator when cuRAND is here.
CURAND_TEST := -DAE_HAVE_CURAND -I$(CUDA_HOME)/include -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcurand
CURAND_TEST := $(if $(wildcard $(CUDA_HOME)/lib64/libcurand.so),$(CURAND_TEST))

$(BUILD)/test_unit: tests/unit/test_unit.c $(LIB_OBJ) $(HEADERS)
	$(CC) $(CFLAGS) tests/unit/test_unit.c $(LIB_OBJ) $(LDFLAGS) $(LDLIBS) $(CURAND_TEST) -o $@

# The GPU tests (tests/gpu/test_gpu.c): the kernels against the CPU path, on a GPU or emulated.
$(BUILD)/test_gpu: tests/gpu/test_gpu.c $(LIB_OBJ) $(HEADERS)
	$(CC) $(CFLAGS) tests/gpu/test_gpu.c $(LIB_OBJ) $(LDFLAGS) $(LDLIBS) -o $@

# chromium, chromium-driver: make test checks the HTML report in a real headless browser
APT_PACKAGES := build-essential pkg-config libconfig-dev libhdf5-dev hdf5-tools python3 python3-pip \
                libhdf5-openmpi-dev openmpi-bin clang libclang-rt-14-dev chromium chromium-driver liblapacke-dev \
                slurmctld slurmd slurm-client munge
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
CUDA_TOOLS_PIP := nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm
deps:  ## install what the build and tests need (Debian packages, Python packages, `pip install -e .`: import aesweep)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -m pip install -q --disable-pip-version-check -r analysis/requirements.txt 2>/dev/null || \
	    $(PYTHON) -m pip install -q --disable-pip-version-check --break-system-packages -r analysis/requirements.txt
	@$(PYTHON) -m pip install -q --disable-pip-version-check -e . 2>/dev/null || \
	    $(PYTHON) -m pip install -q --disable-pip-version-check --break-system-packages -e .
	@# make sass reads the kernels' machine code with cuobjdump and nvdisasm: pip's, where nvcc has none beside it
	@if command -v $(NVCC) >/dev/null 2>&1 && ! $(PYTHON) -c "import sys; sys.path.insert(0, 'tests/gpu'); \
	    import sass_steps; sys.exit(not (sass_steps.find_tool('cuobjdump') and sass_steps.find_tool('nvdisasm')))"; then \
	    $(PYTHON) -m pip install -q --disable-pip-version-check $(CUDA_TOOLS_PIP) 2>/dev/null || \
	    $(PYTHON) -m pip install -q --disable-pip-version-check --break-system-packages $(CUDA_TOOLS_PIP); \
	fi

demo: deps all  ## install, build, run the quickstart sweep, show what it found and draw its chaos map
	@mkdir -p out
	$(BUILD)/aesweep run sweeps/quickstart.cfg -o out/quickstart.h5 --force
	$(BUILD)/aesweep info out/quickstart.h5
	$(PYTHON) -m aesweep.chaos_map out/quickstart.h5 -o out/quickstart_chaos_map.png
	@echo "chaos map: out/quickstart_chaos_map.png"
	@echo
	@$(PYTHON) -m aesweep.summary out/quickstart.h5

test: test-unit sanitize test-python test-gpu-emu test-gpu-session  ## every test this machine can run (no GPU needed)

test-unit: $(BUILD)/test_unit  ## C unit tests: gradients, optimizers, fixed points, Philox, metrics
	$(BUILD)/test_unit

mpi:  ## build/mpi/aesweep: the MPI build (OpenMPI, parallel HDF5), CPU backend only
	$(MAKE) MPI=1 all

# The crash tests' fault injector: LD_PRELOADed into build/aesweep, it kills at the k-th file
# write (tests/fault/fault_inject.c); the production binary has no hook.
$(BUILD)/fault_inject.so: tests/fault/fault_inject.c
	@mkdir -p $(BUILD)
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror $< -ldl -o $@

test-python: all mpi $(BUILD)/fault_inject.so  ## end-to-end sweeps through the binary (serial and MPI), the analysis scripts, the report
	$(PYTHON) -m pytest -q tests/e2e tests/analysis  # the report in headless Chromium: tests/analysis/test_report_browser.py
	$(PYTHON) analysis/examples/run_notebooks.py  # the example notebook, top to bottom, through aesweep.run

# --- Sanitizers and fuzzing: the host code (CPU backend) under ASan and UBSan -------------
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_OBJ   := $(LIB_SRC:src/%.c=$(BUILD)/san/%.o)
FUZZ_SECONDS ?= 60
export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/fuzz/lsan.supp
FUZZ_INPUTS = sweeps/*.cfg tests/configs/bad/*.cfg $(filter-out %.keep,$(wildcard tests/fuzz/regressions/*))

$(BUILD)/san/%.o: src/%.c $(HEADERS) $(BUILD)/flags $(BUILD)/ae_commit.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/san/test_unit: tests/unit/test_unit.c $(SAN_OBJ)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) $^ $(LDFLAGS) $(LDLIBS) $(CURAND_TEST) -o $@

$(BUILD)/san/aesweep: $(CLI_OBJ:$(BUILD)/obj/%=$(BUILD)/san/%) $(SAN_OBJ)
	$(CC) $(SAN_FLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/san/fuzz_replay: tests/fuzz/fuzz_config.c $(SAN_OBJ)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -DFUZZ_REPLAY $^ $(LDFLAGS) $(LDLIBS) -o $@

# The HDF5 readers' fuzz builds stamp the commit "fuzz-corpus", as tests/fuzz/h5/ is stamped.
$(BUILD)/fuzz/ae_commit.h:
	@mkdir -p $(dir $@)
	echo '#define AE_GIT_COMMIT "fuzz-corpus"' > $@

FUZZ_STAMPED := src/format/common.c src/format/write.c
# ... and `aesweep info` (src/cli/info.c), a reader of whole files
$(BUILD)/san/fuzz_h5_replay: tests/fuzz/fuzz_h5.c $(FUZZ_STAMPED) $(filter-out $(FUZZ_STAMPED:src/%.c=$(BUILD)/san/%.o),$(SAN_OBJ)) $(BUILD)/san/cli/info.o $(BUILD)/fuzz/ae_commit.h
	$(CC) -I$(BUILD)/fuzz $(BASE_CFLAGS) $(SAN_FLAGS) -DFUZZ_REPLAY $(filter %.c %.o,$^) $(LDFLAGS) $(LDLIBS) -o $@

sanitize: $(BUILD)/san/test_unit $(BUILD)/san/aesweep $(BUILD)/san/fuzz_replay $(BUILD)/san/fuzz_h5_replay  ## C tests, a sweep and the fuzz corpora under ASan+UBSan
	$(BUILD)/san/test_unit
	$(BUILD)/san/fuzz_replay $(FUZZ_INPUTS)
	$(BUILD)/san/fuzz_h5_replay tests/fuzz/h5/*
	$(BUILD)/san/aesweep run sweeps/quickstart.cfg -o $(BUILD)/san/quickstart.h5 --force --quiet --set train.steps=300
	$(BUILD)/san/aesweep run sweeps/quickstart.cfg -o $(BUILD)/san/quickstart.h5 --resume --quiet --set train.steps=300
	$(BUILD)/san/aesweep info $(BUILD)/san/quickstart.h5 > /dev/null
	$(BUILD)/san/aesweep zoom $(BUILD)/san/quickstart.h5 -o $(BUILD)/san/zoom.h5 --force --quiet \
	    --grid lr=logspace:-1.3:-1:8 --grid bias_delta=values:0,0.1
	$(BUILD)/san/aesweep info --by lr $(BUILD)/san/zoom.h5 > /dev/null
	# error exits free what they hold: exit 2, not LeakSanitizer's 23 (a bad --grid, an unknown
	# key, a file to zoom into that is no output)
	$(BUILD)/san/aesweep run sweeps/quickstart.cfg -o $(BUILD)/san/x.h5 --grid lr=values: 2>/dev/null; test $$? -eq 2
	$(BUILD)/san/aesweep run sweeps/quickstart.cfg -o $(BUILD)/san/x.h5 --set train.lrr=1 2>/dev/null; test $$? -eq 2
	$(BUILD)/san/aesweep zoom sweeps/quickstart.cfg -o $(BUILD)/san/x.h5 2>/dev/null; test $$? -eq 2

$(BUILD)/fuzz_config: tests/fuzz/fuzz_config.c src/config/schema.c src/config/load.c src/config/grid.c src/util/util.c $(HEADERS)
	@mkdir -p $(BUILD)
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude $(filter %.c,$^) -lconfig -lm -o $@

# libFuzzer on the readers of foreign HDF5 files (info, base states, merge), from tests/fuzz/h5/.
$(BUILD)/fuzz_h5: tests/fuzz/fuzz_h5.c $(LIB_SRC) src/cli/info.c $(HEADERS) $(BUILD)/fuzz/ae_commit.h
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -I$(BUILD)/fuzz -Iinclude -Isrc/format $(HDF5_CFLAGS) \
	    tests/fuzz/fuzz_h5.c $(LIB_SRC) src/cli/info.c $(LDLIBS) -o $@

fuzz-h5: $(BUILD)/fuzz_h5  ## fuzz the HDF5 readers for FUZZ_SECONDS; crashes go to tests/fuzz/regressions
	@mkdir -p $(BUILD)/fuzz-h5-corpus
	# a corrupt file can make HDF5 itself ask for absurd amounts of memory: let it fail, as it does in production
	ASAN_OPTIONS=allocator_may_return_null=1 \
	$(BUILD)/fuzz_h5 -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 \
	    -artifact_prefix=tests/fuzz/regressions/ $(BUILD)/fuzz-h5-corpus tests/fuzz/h5

fuzz: $(BUILD)/fuzz_config  ## fuzz the config loader for FUZZ_SECONDS; crashes go to tests/fuzz/regressions
	@mkdir -p $(BUILD)/fuzz-corpus
	$(BUILD)/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=tests/fuzz/regressions/ \
	    $(BUILD)/fuzz-corpus sweeps tests/configs/bad

test-gpu-emu:  ## the CUDA backend's host code and kernels compiled as C++ on an emulated device, against the CPU
	bash tests/gpu/emulate.sh

test-gpu:  ## build, then the GPU checks against the CPU backend (needs a GPU and nvcc; tests/gpu/README.md)
	bash tests/gpu/run.sh

# --- The GPU session: one command on a bare GPU machine (tests/gpu/README.md) -------------
gpu-bundle:  ## build/gpu-bundle: the CUDA binaries and their shared libraries, for a GPU machine without dev packages
	bash tests/gpu/bundle.sh

gpu-session:  ## on a GPU machine, from build/gpu-bundle: tests, sanitizers, bench, baselines, map, ncu (<25 min)
	bash tests/gpu/session.sh

test-gpu-session: all  ## the session script's dry run (every step that runs without a GPU) and make sass's counting
	$(PYTHON) -m pytest -q tests/gpu/test_session.py tests/gpu/test_sass_steps.py

# Warp-instructions per model-step of each train_fixed<n, m> instance, counted in the SASS
# (cuobjdump and nvdisasm, from the CUDA toolkit or `make deps`), and the bound they put on
# an H100's model-steps/s; tests/gpu/sass_steps.py says how.  Its own object: -lineinfo
# (the same instructions, with their source lines) tells the step's checks from the rest.
$(BUILD)/sass/cu_train.o: kernels/train.cu $(KERNEL_HEADERS) $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -lineinfo -c $< -o $@

sass: $(BUILD)/sass/cu_train.o  ## warp-instructions per model-step of each register kernel, from the built SASS
	$(PYTHON) tests/gpu/sass_steps.py $<

bench: all  ## aesweep's CPU rate (n = 7, 16, 64, 256; float32, float64; % of peak) beside every baseline installed (NumPy, Numba, PyTorch, JAX)
	$(PYTHON) analysis/baselines/side_by_side.py --engine $(BUILD)/aesweep --json $(BUILD)/bench.json

# The study's claims, measured (analysis/aesweep/findings.py, sweeps/findings/): about 4 min on 2 cores;
# the sweeps' files go to out/findings.  Its --quick variant is part of make test
# (tests/analysis/test_findings.py).
findings: all  ## regenerate docs/FINDINGS.md and docs/findings/*.png: each claim of the study, measured, with a verdict
	$(PYTHON) -m aesweep.findings --out docs --work out/findings

# docs/CONFIG.md, FORMAT.md and OUTCOMES.md: the generated blocks from the engine's own tables
# (aesweep help config|format|outcomes); tests/e2e/test_docs.py fails while they are stale.
docs: all  ## regenerate the tables of docs/CONFIG.md, docs/FORMAT.md, docs/OUTCOMES.md from the engine's own tables
	$(PYTHON) tools/update_docs.py --aesweep $(BUILD)/aesweep

PREFIX ?= /usr/local
install: all  ## copy build/aesweep to $(PREFIX)/bin (PREFIX=/usr/local; `pip install -e .` gives an `aesweep` command too)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/aesweep $(DESTDIR)$(PREFIX)/bin/aesweep

clean:  ## remove build outputs
	rm -rf $(BUILD)

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14
