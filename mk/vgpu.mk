# The interposer (libgpuslice-vgpu.so), the daemon's ledger helper
# (libgpuslice-ledger.so, loaded through koffi) and the ledger's test-vector
# tool.  Everything is hidden except the wrapped driver entry points and dlsym.
VGPU_DIR := src/vgpu/c/interposer
VGPU_INC := -Isrc/vgpu/c/include -I$(VGPU_DIR)
VGPU_HDRS := $(wildcard $(VGPU_DIR)/*.h) src/vgpu/c/include/gs_ledger.h \
	src/vgpu/c/include/gs_cuda.h
VGPU_LEDGER_SRCS := $(VGPU_DIR)/ledger.c $(VGPU_DIR)/slots.c
VGPU_SRCS := $(VGPU_LEDGER_SRCS) $(addprefix $(VGPU_DIR)/,log.c locate.c \
	real.c state.c allocmap.c memory.c memory-async.c memory-vmm.c \
	memory-ctx.c memory-arrays.c report.c cost.c compute.c)
VGPU_CFLAGS := $(CFLAGS) -fvisibility=hidden $(VGPU_INC)

all: $(OUT)/libgpuslice-vgpu.so $(OUT)/libgpuslice-ledger.so $(OUT)/ledger-vectors

# -Bsymbolic-functions: our own references to a wrapper (the dlsym and
# cuGetProcAddress tables) bind to it, never to a same-named symbol elsewhere
$(OUT)/libgpuslice-vgpu.so: $(VGPU_SRCS) $(VGPU_HDRS) | $(OUT)
	$(call msg,LIB,$@)
	$(Q)$(CC) $(VGPU_CFLAGS) -shared -Wl,-Bsymbolic-functions \
		-Wl,-soname,libgpuslice-vgpu.so -o $@ $(VGPU_SRCS) -ldl -lpthread

$(OUT)/libgpuslice-ledger.so: $(VGPU_LEDGER_SRCS) $(VGPU_DIR)/ledger-lib.c $(VGPU_HDRS) | $(OUT)
	$(call msg,LIB,$@)
	$(Q)$(CC) $(VGPU_CFLAGS) -shared -o $@ $(VGPU_LEDGER_SRCS) \
		$(VGPU_DIR)/ledger-lib.c

$(OUT)/ledger-vectors: $(VGPU_LEDGER_SRCS) $(VGPU_DIR)/ledger-vectors.c $(VGPU_HDRS) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(VGPU_CFLAGS) -o $@ $(VGPU_LEDGER_SRCS) \
		$(VGPU_DIR)/ledger-vectors.c

# the benchmark's driver-call loop (bench/interposer.sh runs it)
all: $(OUT)/interposer-bench
$(OUT)/interposer-bench: bench/interposer-bench.c src/vgpu/c/include/gs_cuda.h $(OUT)/simgpu/libcuda.so
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Isrc/vgpu/c/include -o $@ $< -L$(OUT)/simgpu -lcuda
