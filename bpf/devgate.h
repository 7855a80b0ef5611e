/* SPDX-License-Identifier: Apache-2.0 */
/* Layouts shared by bpf/devgate.bpf.c and src/bpf/layout.ts. Every struct has
 * explicit padding: map keys are compared byte for byte, so a stray
 * uninitialised hole would make lookups miss. */
#ifndef __DEVGATE_H
#define __DEVGATE_H

/* deepest cgroup level searched for a container (level 0 is the root) */
#define DEVGATE_MAX_LEVELS 32
/* GPU-class majors a gpu-only container gates */
#define DEVGATE_MAX_MAJORS 8
/* major or minor wildcard in a rule key */
#define DEVGATE_ANY 0xffffffffu

enum devgate_mode {
	DEVGATE_MODE_STRICT = 0,	/* every device goes through the rules */
	DEVGATE_MODE_GPU_ONLY = 1,	/* only char devices of the listed majors do */
};

/* one container; updated in place under the lock (BPF_F_LOCK), so a reader
 * never holds an element that was freed and reused */
struct devgate_container {
	struct bpf_spin_lock lock;
	__u32 gen;		/* active rule generation */
	__u64 cgroup_id;	/* the key again: a reader checks it is not stale */
	__u8 mode;		/* enum devgate_mode */
	__u8 default_allow;	/* 1: rules are deny exceptions; 0: allow exceptions */
	__u8 pad[2];
	__u32 nmajors;
	__u32 majors[DEVGATE_MAX_MAJORS];
};

struct devgate_rule_key {
	__u64 cgroup_id;
	__u32 gen;
	__u32 major;		/* or DEVGATE_ANY */
	__u32 minor;		/* or DEVGATE_ANY */
	__u8 type;		/* BPF_DEVCG_DEV_BLOCK or BPF_DEVCG_DEV_CHAR */
	__u8 pad[3];
};

/* a denial, as user space reads it from the ring buffer */
struct devgate_event {
	__u64 container_id;	/* the container whose rules denied; 0: none found */
	__u64 cgroup_id;	/* the task's own cgroup */
	__u32 pid;
	__u32 major;
	__u32 minor;
	__u16 access;		/* BPF_DEVCG_ACC_* bits */
	__u8 type;		/* BPF_DEVCG_DEV_* */
	__u8 pad;
	char comm[16];
};

#endif /* __DEVGATE_H */
