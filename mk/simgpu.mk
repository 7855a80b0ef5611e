# The simulated GPU (libcuda.so.1, libnvidia-ml.so.1) and gpuload, the test
# workload.  Both libraries export only the driver's names (everything else
# is hidden) and bind calls among their own functions locally, as the real
# driver does, so an LD_PRELOAD interposer sees only the application's calls.
SIMGPU_SRC := src/vgpu/c/simgpu
GPULOAD_SRC := src/vgpu/c/gpuload
GS_CUDA_INC := src/vgpu/c/include
SIMGPU_OUT := $(OUT)/simgpu
SIMGPU_CFLAGS := $(CFLAGS) -D_GNU_SOURCE -fvisibility=hidden \
	-I$(GS_CUDA_INC) -I$(SIMGPU_SRC)
SIMGPU_LDFLAGS := -shared -Wl,-Bsymbolic-functions -Wl,-z,defs -pthread

SIMGPU_COMMON := config shm slots timeline
SIMGPU_CUDA_OBJS := $(patsubst %,$(SIMGPU_OUT)/obj/%.o,$(SIMGPU_COMMON) \
	device context alloc_table memory pool vmm stream graph launch \
	errors legacy procaddr visible)
SIMGPU_NVML_OBJS := $(patsubst %,$(SIMGPU_OUT)/obj/%.o,$(SIMGPU_COMMON) nvml \
	nvml_procs)
SIMGPU_HDRS := $(wildcard $(SIMGPU_SRC)/*.h) $(GS_CUDA_INC)/gs_cuda.h
GPULOAD_OBJS := $(patsubst $(GPULOAD_SRC)/%.c,$(OUT)/gpuload-obj/%.o,\
	$(wildcard $(GPULOAD_SRC)/*.c))

.PHONY: simgpu
simgpu: $(SIMGPU_OUT)/libcuda.so $(SIMGPU_OUT)/libnvidia-ml.so $(OUT)/gpuload
all: simgpu

$(SIMGPU_OUT)/obj/%.o: $(SIMGPU_SRC)/%.c $(SIMGPU_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SIMGPU_CFLAGS) -c $< -o $@

$(SIMGPU_OUT)/libcuda.so.1: $(SIMGPU_CUDA_OBJS)
	$(call msg,LIB,$@)
	$(Q)$(CC) $(SIMGPU_LDFLAGS) -Wl,-soname,libcuda.so.1 -o $@ $^

$(SIMGPU_OUT)/libnvidia-ml.so.1: $(SIMGPU_NVML_OBJS)
	$(call msg,LIB,$@)
	$(Q)$(CC) $(SIMGPU_LDFLAGS) -Wl,-soname,libnvidia-ml.so.1 -o $@ $^

$(SIMGPU_OUT)/%.so: $(SIMGPU_OUT)/%.so.1
	$(Q)ln -sf $(<F) $@

$(OUT)/gpuload-obj/%.o: $(GPULOAD_SRC)/%.c $(wildcard $(GPULOAD_SRC)/*.h) \
		$(GS_CUDA_INC)/gs_cuda.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -D_GNU_SOURCE -I$(GS_CUDA_INC) -c $< -o $@

# linked against simgpu's libcuda.so; at run time LD_LIBRARY_PATH or the
# system's loader path picks the driver (simgpu or NVIDIA's), no rpath
$(OUT)/gpuload: $(GPULOAD_OBJS) $(SIMGPU_OUT)/libcuda.so
	$(call msg,LINK,$@)
	$(Q)$(CC) -o $@ $(GPULOAD_OBJS) -L$(SIMGPU_OUT) -lcuda -ldl -lm -pthread
