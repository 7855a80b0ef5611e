# C and BPF parts of gpuslice, in the libbpf-bootstrap manner: pattern rules,
# quiet unless V=1, objects built from source into build/ (never committed).
OUT := build
CLANG ?= clang
CC ?= gcc
CFLAGS := -O2 -g -Wall -Wextra -fPIC -std=gnu11
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
# Debian keeps asm/ headers under the multiarch include directory
BPF_INCLUDES := -I/usr/include/$(shell uname -m)-linux-gnu -Ibpf

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.PHONY: all clean

BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(wildcard bpf/*.bpf.c))

all: $(BPF_OBJS)

$(OUT):
	$(Q)mkdir -p $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(BPF_INCLUDES) -c $< -o $@

-include mk/*.mk

clean:
	$(Q)rm -rf $(OUT)
