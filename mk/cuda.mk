# mk/cuda.mk: optional CUDA backend of the trainer ops (trainer/ops/*.cu), included by the
# top-level Makefile after LIB_A, LIBS and ALL_CFLAGS are defined.
#
# Switch: CUDA unset = use CUDA when nvcc, cudnn.h and the libraries are found; CUDA=1 =
# require them ($(error) otherwise); CUDA=0 = CPU only. Prints one found / not found line.
# When enabled defines:
#   CUDA_OBJ       $(BUILD)/obj/trainer/ops/<op>.cu.o for every trainer/ops/*.cu (nvcc)
#   CUDA_TRAIN_OBJ the CUDA backend (trainer/backend_cuda.c) and CUDA_OBJ, position
#                  independent: linked into CUDA_SO, and directly into the tests of tests/cuda
#   CUDA_SO        $(BUILD)/lib/cerebro-ds/libcerebro-cuda.so, which cerebro-train loads with
#                  dlopen for --device cuda (trainer/backend_dl.c), so CPU runs map no CUDA
#                  library
#   CUDA_LIBS      -L... -lcudart -lcublas -lcudnn (with rpath for non-system dirs)
#   CUDA_CFLAGS    -DCD_HAVE_CUDA and the CUDA include dirs (for C files including ops_cuda.h)
#   CUDA_TEST      $(BUILD)/tests/test_ops_cuda and test_net_cuda (CUDA vs CPU ops, and whole
#                  training steps; both skip without a GPU)
# and all of them empty otherwise. CUDA_STATE_FILE changes when CUDA is switched on or off,
# so binaries that link CUDA_TRAIN_OBJ relink. Override NVCC, CUDA_HOME, CUDA_ARCH on the
# command line.

CUDA ?=
ifeq ($(filter $(CUDA),0 1),)
ifneq ($(CUDA),)
$(error CUDA must be 0, 1 or unset (auto-detect), not '$(CUDA)')
endif
endif

CUDA_OBJ :=
CUDA_SO :=
CUDA_TRAIN_OBJ :=
CUDA_LIBS :=
CUDA_CFLAGS :=
CUDA_TEST :=

ifneq ($(CUDA),0)
NVCC ?= nvcc
NVCC_PATH := $(shell command -v $(NVCC) 2>/dev/null)
# nvcc's own tree: <root>/bin/nvcc
NVCC_ROOT := $(if $(NVCC_PATH),$(patsubst %/bin/nvcc,%,$(realpath $(NVCC_PATH))))
CUDA_HOME ?= $(NVCC_ROOT)
CUDA_INC_DIRS := /usr/include /usr/include/x86_64-linux-gnu /usr/local/cuda/include \
	$(if $(CUDA_HOME),$(CUDA_HOME)/include) $(if $(NVCC_ROOT),$(NVCC_ROOT)/include)
CUDA_LIB_DIRS := /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 \
	$(if $(CUDA_HOME),$(CUDA_HOME)/lib64) $(if $(NVCC_ROOT),$(NVCC_ROOT)/lib64)
CUDNN_H := $(firstword $(wildcard $(addsuffix /cudnn.h,$(CUDA_INC_DIRS))))
CUDART_SO := $(firstword $(wildcard $(addsuffix /libcudart.so,$(CUDA_LIB_DIRS))))
CUBLAS_SO := $(firstword $(wildcard $(addsuffix /libcublas.so,$(CUDA_LIB_DIRS))))
CUDNN_SO := $(firstword $(wildcard $(addsuffix /libcudnn.so,$(CUDA_LIB_DIRS))))
NVCC_VERSION := $(if $(NVCC_PATH),$(shell $(NVCC_PATH) --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p'))
CUDA_MISSING := $(strip $(if $(NVCC_PATH),$(if $(NVCC_VERSION),,nvcc-version),nvcc) \
	$(if $(CUDNN_H),,cudnn.h) $(if $(CUDART_SO),,libcudart.so) $(if $(CUBLAS_SO),,libcublas.so) \
	$(if $(CUDNN_SO),,libcudnn.so))
ifeq ($(CUDA_MISSING),)
CUDA_ENABLED := 1
$(info cuda: found nvcc $(NVCC_VERSION), cudnn.h $(CUDNN_H))
else ifeq ($(CUDA),1)
$(error cuda: CUDA=1 but not found: $(CUDA_MISSING) (set NVCC / CUDA_HOME, or CUDA=0))
else
$(info cuda: not found ($(CUDA_MISSING) missing): CPU only)
endif
else
$(info cuda: not found (disabled by CUDA=0): CPU only)
endif

ifeq ($(CUDA_ENABLED),1)
# sm_80 (A100), sm_86 (RTX 30xx), sm_90 (H100) SASS, plus compute_90 PTX that newer GPUs
# (Blackwell) JIT-compile. CUDA 13 no longer supports targets below sm_75.
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
	-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CUDA_INC := $(sort $(dir $(CUDNN_H)) $(if $(NVCC_ROOT),$(NVCC_ROOT)/include/))
CUDA_LIBDIR := $(sort $(dir $(CUDART_SO) $(CUBLAS_SO) $(CUDNN_SO)))
CUDA_CFLAGS := -DCD_HAVE_CUDA $(addprefix -I,$(patsubst %/,%,$(CUDA_INC)))
CUDA_LIBS := $(foreach d,$(patsubst %/,%,$(CUDA_LIBDIR)),-L$(d) $(if $(filter /usr/lib%,$(d)),,-Wl,-rpath,$(d))) \
	-lcudnn -lcublas -lcudart -lstdc++
NVCC_OPT := $(if $(filter 0,$(OPT)),-O0,-O2)
NVCC_FLAGS := -std=c++17 -g $(NVCC_OPT) $(CUDA_ARCH) -Werror all-warnings \
	-Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter,-fPIC -MMD -MP \
	$(filter -I% -D%,$(ALL_CFLAGS)) $(CUDA_CFLAGS)

CUDA_SRC := $(wildcard trainer/ops/*.cu)
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/obj/%.cu.o)
CUDA_TRAIN_OBJ := $(BUILD)/obj/trainer/backend_cuda.o $(CUDA_OBJ)
CUDA_SO := $(BUILD)/lib/cerebro-ds/libcerebro-cuda.so
CUDA_TEST := $(BUILD)/tests/test_ops_cuda $(BUILD)/tests/test_net_cuda

# Rebuild the CUDA objects when the nvcc flags change (as $(BUILD)/.flags does for cc).
CUDA_FLAGS_FILE := $(BUILD)/.cudaflags
$(shell mkdir -p $(BUILD) && echo '$(NVCC_PATH) $(NVCC_FLAGS) $(CUDA_LIBS)' > $(CUDA_FLAGS_FILE).new && \
	(cmp -s $(CUDA_FLAGS_FILE).new $(CUDA_FLAGS_FILE) || mv $(CUDA_FLAGS_FILE).new $(CUDA_FLAGS_FILE)); \
	rm -f $(CUDA_FLAGS_FILE).new)

$(BUILD)/obj/%.cu.o: %.cu $(CUDA_FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(NVCC_PATH) $(NVCC_FLAGS) -c $< -o $@

# C files that include the CUDA headers (cc, with the CUDA include dirs).
$(BUILD)/obj/trainer/backend_cuda.o $(BUILD)/obj/tests/cuda/test_net_cuda.o: ALL_CFLAGS += $(CUDA_CFLAGS) -fPIC
$(BUILD)/obj/trainer/backend_cuda.o $(BUILD)/obj/tests/cuda/test_net_cuda.o: $(CUDA_FLAGS_FILE)

# -Bsymbolic: its own functions bind to its own definitions, not to the executable's stand-ins.
$(CUDA_SO): $(CUDA_TRAIN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-Bsymbolic -Wl,-soname,libcerebro-cuda.so -o $@ $^ $(CUDA_LIBS) $(LDFLAGS)

$(BUILD)/tests/test_ops_cuda: $(BUILD)/obj/tests/cuda/test_ops_cuda.cu.o $(CUDA_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(CUDA_LIBS) $(LIBS)

$(BUILD)/tests/test_net_cuda: $(BUILD)/obj/tests/cuda/test_net_cuda.o $(CUDA_TRAIN_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(CUDA_LIBS) $(LIBS)
endif

# Whether CUDA is on, recorded so that a switch relinks what links CUDA_TRAIN_OBJ.
CUDA_STATE_FILE := $(BUILD)/.cudastate
$(shell mkdir -p $(BUILD) && echo 'cuda=$(CUDA_ENABLED)' > $(CUDA_STATE_FILE).new && \
	(cmp -s $(CUDA_STATE_FILE).new $(CUDA_STATE_FILE) || mv $(CUDA_STATE_FILE).new $(CUDA_STATE_FILE)); \
	rm -f $(CUDA_STATE_FILE).new)
