# Fixtures of the interposer tests: a calloc that fails above a size, to
# show that a failed table growth gives the reservation back.
VGPU_FIXTURES := $(OUT)/fixtures/libfailcalloc.so

all: $(VGPU_FIXTURES)

$(OUT)/fixtures/lib%.so: test/fixtures/vgpu/%.c | $(OUT)
	$(call msg,LIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -shared -o $@ $<
