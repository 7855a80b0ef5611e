// SPDX-License-Identifier: GPL-2.0
/* The device gate: one cgroup/dev program for every container. Rules live in
 * maps keyed by (container, generation, device), so a check costs the same
 * few lookups whatever the number of rules or containers. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "devgate.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct devgate_container);
} containers SEC(".maps");

/* value: the access bits (BPF_DEVCG_ACC_*) the rule grants or denies */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct devgate_rule_key);
	__type(value, __u32);
} rules SEC(".maps");

/* denials per container id (0: a task with no container entry at all) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} denials SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct snapshot {
	__u32 gen;
	__u8 mode;
	__u8 default_allow;
	__u32 nmajors;
	__u32 majors[DEVGATE_MAX_MAJORS];
};

static __always_inline int gated_major(const struct snapshot *s, __u32 major)
{
	for (int i = 0; i < DEVGATE_MAX_MAJORS; i++) {
		if (i >= s->nmajors)
			break;
		if (s->majors[i] == major)
			return 1;
	}
	return 0;
}

/* 1 when the container's rules let the access through */
static __always_inline int container_allows(__u64 id, const struct snapshot *s,
					    __u32 type, __u32 major, __u32 minor,
					    __u32 access)
{
	struct devgate_rule_key key = {};
	__u32 majors[4] = { major, major, DEVGATE_ANY, DEVGATE_ANY };
	__u32 minors[4] = { minor, DEVGATE_ANY, minor, DEVGATE_ANY };

	/* gpu-only leaves non-GPU devices to systemd's and the runtime's policy */
	if (s->mode == DEVGATE_MODE_GPU_ONLY &&
	    (type != BPF_DEVCG_DEV_CHAR || !gated_major(s, major)))
		return 1;

	key.cgroup_id = id;
	key.gen = s->gen;
	key.type = type;
	/* exact, minor wildcard, major wildcard, all: one rule must cover the
	 * whole request (runc's semantics) */
	for (int i = 0; i < 4; i++) {
		__u32 *granted;

		key.major = majors[i];
		key.minor = minors[i];
		granted = bpf_map_lookup_elem(&rules, &key);
		if (!granted)
			continue;
		if (s->default_allow) {
			/* a deny exception: any overlap denies (cgroup v1's rule) */
			if (*granted & access)
				return 0;
		} else if ((*granted & access) == access) {
			return 1;
		}
	}
	return s->default_allow;
}

static __always_inline void report(__u64 container, __u32 type, __u32 major,
				   __u32 minor, __u32 access)
{
	struct devgate_event ev = {};
	__u64 *count;

	count = bpf_map_lookup_elem(&denials, &container);
	if (count)
		__sync_fetch_and_add(count, 1);

	ev.container_id = container;
	ev.cgroup_id = bpf_get_current_cgroup_id();
	ev.pid = bpf_get_current_pid_tgid() >> 32;
	ev.major = major;
	ev.minor = minor;
	ev.access = access;
	ev.type = type;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
}

SEC("cgroup/dev")
int devgate(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff;
	__u32 access = ctx->access_type >> 16;
	__u32 major = ctx->major, minor = ctx->minor;
	int found = 0;

	/* the program attached at a container's cgroup also runs for its
	 * descendants: walk the task's ancestors from the root down and apply
	 * every container on the path (nested containers AND together) */
	for (int level = 0; level < DEVGATE_MAX_LEVELS; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		struct devgate_container *c;
		struct snapshot s = {};
		int ours;

		if (!id)
			break;
		c = bpf_map_lookup_elem(&containers, &id);
		if (!c)
			continue;
		bpf_spin_lock(&c->lock);
		s.gen = c->gen;
		s.mode = c->mode;
		s.default_allow = c->default_allow;
		s.nmajors = c->nmajors;
		for (int i = 0; i < DEVGATE_MAX_MAJORS; i++)
			s.majors[i] = c->majors[i];
		ours = c->cgroup_id == id;
		bpf_spin_unlock(&c->lock);
		/* an element reused for another key after a delete: not ours */
		if (!ours)
			continue;
		found = 1;
		if (!container_allows(id, &s, type, major, minor, access)) {
			report(id, type, major, minor, access);
			return 0;
		}
	}
	if (found)
		return 1;
	/* attached here, yet no container on the path: fail closed */
	report(0, type, major, minor, access);
	return 0;
}
