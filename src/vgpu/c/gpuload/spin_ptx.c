// SPDX-License-Identifier: Apache-2.0
/*
 * gs_spin(ns): one thread that spins until the GPU's global timer has
 * advanced ns nanoseconds, so a launch occupies the device for a chosen
 * time on real hardware; gs_noop returns at once (what a launch costs).
 * PTX 7.0 for sm_52 runs on any driver since CUDA 11.0 (the driver
 * JIT-compiles it for the GPU at hand).  simgpu reads the entry names and
 * takes ns as gs_spin's duration without running anything.
 */
#include "gpuload.h"

const char gl_spin_ptx[] =
	".version 7.0\n"
	".target sm_52\n"
	".address_size 64\n"
	"\n"
	".visible .entry gs_spin(\n"
	"	.param .u64 ns\n"
	")\n"
	"{\n"
	"	.reg .pred %p<2>;\n"
	"	.reg .b64 %rd<5>;\n"
	"\n"
	"	ld.param.u64 %rd1, [ns];\n"
	"	mov.u64 %rd2, %globaltimer;\n"
	"$L_spin:\n"
	"	mov.u64 %rd3, %globaltimer;\n"
	"	sub.s64 %rd4, %rd3, %rd2;\n"
	"	setp.lt.u64 %p1, %rd4, %rd1;\n"
	"	@%p1 bra $L_spin;\n"
	"	ret;\n"
	"}\n"
	"\n"
	".visible .entry gs_noop()\n"
	"{\n"
	"	ret;\n"
	"}\n";
