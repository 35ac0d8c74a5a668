# aesweep - build, test and demo.  `make help` says what each target is for.
#
# `make` builds build/aesweep with the CPU backend and, when nvcc is on the PATH,
# the CUDA backend too (CUDA=0 turns that off).  No target needs a GPU except test-gpu.

CC       ?= cc
NVCC     ?= nvcc
PYTHON   ?= python3
BUILD    := build
# make MPI=1: build/mpi/aesweep, for `mpirun -np N build/mpi/aesweep run ...`, with OpenMPI
# and parallel HDF5 (libhdf5-openmpi-dev, openmpi-bin): ranks split the runs, one file.
MPI      ?= 0
ifeq ($(MPI),1)
CC       := mpicc
BUILD    := build/mpi
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
               -Iinclude -I$(BUILD) $(HDF5_CFLAGS)
CFLAGS   := $(BASE_CFLAGS) $(if $(filter 1,$(MPI)),-DAE_HAVE_MPI)
LDLIBS   := -L$(HDF5_LIBDIR) -Wl,-rpath,$(HDF5_LIBDIR) -lconfig -lhdf5_hl -lhdf5 -lm
LDFLAGS  := -fopenmp

# The CUDA backend, when nvcc is here and not turned off.
CUDA ?= $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
NVCC_GENCODE := -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS := -O3 -std=c++17 -Iinclude -Xcompiler -Wall,-Wextra $(NVCC_GENCODE)

LIB_SRC  := $(filter-out src/main.c src/backend_cuda.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
ifeq ($(CUDA),1)
CFLAGS   += -DAE_HAVE_CUDA -I$(CUDA_HOME)/include
CU_OBJ   := $(patsubst kernels/%.cu,$(BUILD)/obj/cu_%.o,$(wildcard kernels/*.cu))
LIB_OBJ  += $(BUILD)/obj/backend_cuda.o $(CU_OBJ)
LDLIBS   += -L$(CUDA_HOME)/lib64 -lcudart_static -lstdc++ -ldl -lrt -lpthread
endif
HEADERS  := $(wildcard include/*.h include/*.inc src/*.inc kernels/*.cuh)

.PHONY: FORCE all mpi deps demo test test-unit test-python sanitize fuzz test-gpu-emu test-gpu bench clean help

all: $(BUILD)/aesweep  ## build build/aesweep (CPU backend, plus CUDA when nvcc is on the PATH)

# Objects depend on the flags they were built with, so `make CUDA=0` then `make` rebuilds.
$(BUILD)/flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(NVCCFLAGS) $(CUDA)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(NVCCFLAGS) $(CUDA)' > $@

# The CPU backend's lane loops need GCC's full vectoriser (-O3); the lanes stay bit-exact.
$(BUILD)/obj/backend_cpu.o: CFLAGS += -O3

# The commit the binary was built from, for the output's provenance.
$(BUILD)/ae_commit.h: FORCE
	@mkdir -p $(BUILD)
	@echo '#define AE_GIT_COMMIT "$(GIT_COMMIT)"' | cmp -s - $@ || echo '#define AE_GIT_COMMIT "$(GIT_COMMIT)"' > $@

$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(BUILD)/flags $(BUILD)/ae_commit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/cu_%.o: kernels/%.cu $(HEADERS) $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/aesweep: $(BUILD)/obj/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The unit tests also check our Philox against cuRAND's host generator when cuRAND is here.
CURAND_TEST := -DAE_HAVE_CURAND -I$(CUDA_HOME)/include -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcurand
CURAND_TEST := $(if $(wildcard $(CUDA_HOME)/lib64/libcurand.so),$(CURAND_TEST))

$(BUILD)/test_unit: tests/unit/test_unit.c $(LIB_OBJ) $(HEADERS)
	$(CC) $(CFLAGS) tests/unit/test_unit.c $(LIB_OBJ) $(LDFLAGS) $(LDLIBS) $(CURAND_TEST) -o $@

APT_PACKAGES := build-essential pkg-config libconfig-dev libhdf5-dev hdf5-tools python3 python3-pip \
                libhdf5-openmpi-dev openmpi-bin clang libclang-rt-14-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
deps:  ## install what the build and tests need (Debian packages, Python packages of analysis/)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -m pip install -q --disable-pip-version-check -r analysis/requirements.txt 2>/dev/null || \
	    $(PYTHON) -m pip install -q --disable-pip-version-check --break-system-packages -r analysis/requirements.txt

demo: deps all  ## install, build, run the quickstart sweep, show what it found and draw its chaos map
	$(BUILD)/aesweep run sweeps/quickstart.cfg -o out/quickstart.h5 --force
	$(BUILD)/aesweep info out/quickstart.h5
	$(PYTHON) -m analysis.chaos_map out/quickstart.h5 -o out/quickstart_chaos_map.png
	@echo "chaos map: out/quickstart_chaos_map.png"

test: test-unit sanitize test-python test-gpu-emu  ## every test this machine can run (no GPU needed)

test-unit: $(BUILD)/test_unit  ## C unit tests: gradients, optimizers, fixed points, Philox, metrics
	$(BUILD)/test_unit

mpi:  ## build/mpi/aesweep: the MPI build (OpenMPI, parallel HDF5), CPU backend only
	$(MAKE) MPI=1 CUDA=0 all

test-python: all mpi  ## end-to-end sweeps through the binary (serial and MPI) and the analysis scripts
	$(PYTHON) -m pytest -q tests/e2e tests/analysis

# --- Sanitizers and fuzzing: the host code (CPU backend) under ASan and UBSan -------------
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_OBJ   := $(patsubst src/%.c,$(BUILD)/san/%.o,$(filter-out src/main.c src/backend_cuda.c,$(wildcard src/*.c)))
FUZZ_SECONDS ?= 60
export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/fuzz/lsan.supp
FUZZ_INPUTS = sweeps/*.cfg tests/configs/bad/*.cfg $(filter-out %.keep,$(wildcard tests/fuzz/regressions/*))

$(BUILD)/san/%.o: src/%.c $(HEADERS) $(BUILD)/flags $(BUILD)/ae_commit.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/san/test_unit: tests/unit/test_unit.c $(SAN_OBJ)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) $^ $(LDFLAGS) $(LDLIBS) $(CURAND_TEST) -o $@

$(BUILD)/san/aesweep: $(BUILD)/san/main.o $(SAN_OBJ)
	$(CC) $(SAN_FLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/san/fuzz_replay: tests/fuzz/fuzz_config.c $(SAN_OBJ)
	$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -DFUZZ_REPLAY $^ $(LDFLAGS) $(LDLIBS) -o $@

sanitize: $(BUILD)/san/test_unit $(BUILD)/san/aesweep $(BUILD)/san/fuzz_replay  ## C tests, a sweep and the fuzz corpus under ASan+UBSan
	$(BUILD)/san/test_unit
	$(BUILD)/san/fuzz_replay $(FUZZ_INPUTS)
	$(BUILD)/san/aesweep run sweeps/quickstart.cfg -o $(BUILD)/san/quickstart.h5 --force --quiet --set train.steps=300
	$(BUILD)/san/aesweep run sweeps/quickstart.cfg -o $(BUILD)/san/quickstart.h5 --resume --quiet --set train.steps=300
	$(BUILD)/san/aesweep info $(BUILD)/san/quickstart.h5 > /dev/null

$(BUILD)/fuzz_config: tests/fuzz/fuzz_config.c src/config.c src/grid.c src/util.c $(HEADERS)
	@mkdir -p $(BUILD)
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude $(filter %.c,$^) -lconfig -lm -o $@

fuzz: $(BUILD)/fuzz_config  ## fuzz the config loader for FUZZ_SECONDS; crashes go to tests/fuzz/regressions
	@mkdir -p $(BUILD)/fuzz-corpus
	$(BUILD)/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=tests/fuzz/regressions/ \
	    $(BUILD)/fuzz-corpus sweeps tests/configs/bad

test-gpu-emu:  ## the CUDA backend's host code and kernels compiled as C++ on an emulated device, against the CPU
	bash tests/gpu/emulate.sh

test-gpu: all  ## GPU checks against the CPU backend (needs an NVIDIA GPU; see tests/gpu/README.md)
	bash tests/gpu/run.sh

bench: all  ## model-steps per second here (n = 7, 16, 64) and the NumPy baseline's, side by side
	$(BUILD)/aesweep bench --json $(BUILD)/bench.json
	$(PYTHON) analysis/baselines/numpy_batched.py --n 7 --runs 4096 --steps 200 --json $(BUILD)/bench_numpy.json
	@$(PYTHON) -c "import json; a = json.load(open('$(BUILD)/bench.json')); b = json.load(open('$(BUILD)/bench_numpy.json')); \
	r = [x for x in a['results'] if x['n'] == 7][0]; \
	print('n=7: aesweep %.3g model-steps/s, NumPy %.3g: %.0fx' % (r['model_steps_per_s'], b['model_steps_per_second'], r['model_steps_per_s'] / b['model_steps_per_second']))"

clean:  ## remove build outputs
	rm -rf $(BUILD)

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14
