/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the memory wrappers (memory*.c): the reserve-before, settle-after
 * steps every allocation path takes, and the two shapes most wrappers have.
 */
#ifndef GS_MEMORY_H
#define GS_MEMORY_H

#include "vgpu.h"

GS_HIDDEN uint64_t gs_current_ctx(void);
GS_HIDDEN void gs_mem_release(int ldev, uint64_t bytes);
/* bytes[d] on each device d */
GS_HIDDEN void gs_mem_release_each(const uint64_t bytes[GS_LEDGER_MAX_DEVICES]);
/* reserve, and room in the map, before the driver is called */
GS_HIDDEN CUresult gs_mem_admit(int ldev, uint64_t bytes);
/* after the driver answered: remember what to release, or give it back */
GS_HIDDEN CUresult gs_mem_done(CUresult r, int kind, uint64_t key, int ldev,
			       uint64_t bytes, uint64_t owner);
GS_HIDDEN CUresult gs_mem_freed(CUresult r, int kind, uint64_t key);
/* what the driver frees with an owner (a context, a graph) */
GS_HIDDEN void gs_mem_drop_owner(int kind, uint64_t owner);

#define ALLOC(call, kind, keyexpr, ldevexpr, bytesexpr, ownerexpr, ...)     \
	do {                                                                 \
		int ldev_;                                                   \
		uint64_t bytes_ = (bytesexpr), owner_;                       \
		CUresult r_;                                                 \
		if (!gs_enforcing())                                         \
			return GS_REAL(call, __VA_ARGS__);                   \
		ldev_ = (ldevexpr);                                          \
		owner_ = (ownerexpr);                                        \
		r_ = gs_mem_admit(ldev_, bytes_);                                   \
		if (r_ != CUDA_SUCCESS)                                      \
			return r_;                                           \
		r_ = GS_REAL(call, __VA_ARGS__);                             \
		return gs_mem_done(r_, kind, r_ == CUDA_SUCCESS ? (keyexpr) : 0,    \
			    ldev_, bytes_, owner_);                          \
	} while (0)

#define FREE(call, kind, key, ...)                                          \
	do {                                                                 \
		CUresult r_ = GS_REAL(call, __VA_ARGS__);                    \
		if (!gs_enforcing())                                         \
			return r_;                                           \
		return gs_mem_freed(r_, kind, (uint64_t)(key));                     \
	} while (0)

#endif
