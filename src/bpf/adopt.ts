// What a previous gate process left in bpffs: pinned links (which cgroup each
// guards) and the rule maps (which generation of each container is active).
import { libbpf, errnoName, type BpfLink } from './libbpf.js';
import { GpusliceError } from '../errors.js';
import { BpfMapFd } from './maps.js';
import { BPF_F_LOCK } from './libbpf.js';
import * as L from './layout.js';

// struct bpf_link_info: type, id, prog_id, then a union whose cgroup member
// starts with __u64 cgroup_id at offset 16 (kernel 5.8)
const LINK_INFO_SIZE = 64;
const BPF_LINK_TYPE_CGROUP = 3;

/**
 * bpf_link__open on a pin, and the id of the cgroup the link is attached to,
 * and the program it runs, from bpf_obj_get_info_by_fd: cgroupId is 0n once the kernel detached it because the cgroup
 * was removed. Throws GS_ERR_BPF_PIN when the pin cannot be opened.
 */
export function readPinnedLink(pin: string): { link: BpfLink | null; cgroupId: bigint; progId: number } {
  const lib = libbpf();
  const link = lib.linkOpen(pin);
  if (!link) {
    throw new GpusliceError('GS_ERR_BPF_PIN', `cannot open the pinned link ${pin}: remove it if it is not a device gate link`, { op: 'bpf_obj_get', path: pin });
  }
  const info = Buffer.alloc(LINK_INFO_SIZE);
  const len = new Uint32Array([LINK_INFO_SIZE]);
  const rc = lib.objInfo(lib.linkFd(link), info, len);
  if (rc < 0) {
    lib.linkDestroy(link);
    throw new GpusliceError('GS_ERR_BPF_PIN', `cannot read the pinned link ${pin}: ${errnoName(-rc)}`, { op: 'bpf_obj_get_info_by_fd', path: pin, errno: errnoName(-rc) });
  }
  if (info.readUInt32LE(0) !== BPF_LINK_TYPE_CGROUP) {
    lib.linkDestroy(link);
    throw new GpusliceError('GS_ERR_BPF_PIN', `the pin ${pin} is not a cgroup link: remove it`, { op: 'bpf_obj_get_info_by_fd', path: pin });
  }
  return { link, cgroupId: info.readBigUInt64LE(16), progId: info.readUInt32LE(8) };
}

export interface AdoptedContainer {
  gen: number;
  activeKeys: Buffer[];
  staleKeys: Buffer[];
  allKeys: Buffer[];
}

/** Sorts every rule key into active and stale generations of each container. */
export function scanState(containers: BpfMapFd, rules: BpfMapFd): { containers: Map<bigint, AdoptedContainer>; orphanKeys: Buffer[] } {
  const out = new Map<bigint, AdoptedContainer>();
  for (const k of containers.keys()) {
    const v = containers.lookup(k, BPF_F_LOCK);
    if (!v) continue;
    const s = L.decodeContainer(v);
    out.set(k.readBigUInt64LE(0), { gen: s.gen, activeKeys: [], staleKeys: [], allKeys: [] });
  }
  const orphanKeys: Buffer[] = [];
  for (const k of rules.keys()) {
    const key = L.decodeRuleKey(k);
    const c = out.get(key.cgroupId);
    if (!c) {
      orphanKeys.push(k);
      continue;
    }
    c.allKeys.push(k);
    (key.gen === c.gen ? c.activeKeys : c.staleKeys).push(k);
  }
  return { containers: out, orphanKeys };
}
