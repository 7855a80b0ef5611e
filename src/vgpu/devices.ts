// GPU device-node discovery: which nodes under /dev belong to which GPU, read
// from /dev, /sys/class/drm and /proc/devices under a root prefix (tests point
// it at a fixture tree). Nodes that are real char devices give their numbers
// from stat(2); plain files in a fixture get them from their names.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type GpuVendor = 'nvidia' | 'amd' | 'intel' | 'unknown';
export type NodeRole = 'gpu' | 'control' | 'modeset' | 'uvm' | 'uvm-tools' | 'cap' | 'card' | 'render' | 'kfd';

export interface GpuDeviceNode {
  /** the path as a container sees it, e.g. /dev/nvidia0 (without the root prefix) */
  path: string;
  type: 'c';
  major: number;
  minor: number;
  role: NodeRole;
}

export interface DiscoveredGpu {
  index: number;
  vendor: GpuVendor;
  pciAddress?: string;
  /** the nodes of this GPU alone */
  nodes: GpuDeviceNode[];
}

export interface GpuDiscovery {
  gpus: DiscoveredGpu[];
  /** nodes every GPU of a vendor needs too (nvidiactl, nvidia-uvm, /dev/kfd, …) */
  shared: Record<GpuVendor, GpuDeviceNode[]>;
  /** /dev/nvidia-caps/*: MIG management capabilities, granted to no container by default */
  caps: GpuDeviceNode[];
  /** the char majors of GPU-class devices, which a gpu-only gate guards */
  gpuMajors: number[];
}

export const NVIDIA_MAJOR = 195;
export const DRM_MAJOR = 226;
const PCI_VENDORS: Record<string, GpuVendor> = { '0x10de': 'nvidia', '0x1002': 'amd', '0x8086': 'intel' };
// /proc/devices names of GPU-class char drivers with dynamic majors
const GPU_DRIVER_NAMES = ['nvidia-uvm', 'nvidia-caps', 'nvidia-nvswitch', 'nvidia-nvlink', 'kfd'];

/** Parses /proc/devices into name → major, for char and block devices. Pure. */
export function parseProcDevices(text: string): { char: Map<string, number>; block: Map<string, number> } {
  const char = new Map<string, number>();
  const block = new Map<string, number>();
  let into: Map<string, number> | null = null;
  for (const line of text.split('\n')) {
    if (/^Character devices:/.test(line)) into = char;
    else if (/^Block devices:/.test(line)) into = block;
    else {
      const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
      // a name may appear under several majors; the first is the driver's own
      if (m && into && !into.has(m[2])) into.set(m[2], Number(m[1]));
    }
  }
  return { char, block };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function list(path: string): string[] {
  try {
    return readdirSync(path).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

/** Numbers from stat(2) for a real char device, else the ones the name implies. */
function node(root: string, path: string, role: NodeRole, major: number | undefined, minor: number): GpuDeviceNode | null {
  let st;
  try {
    st = statSync(join(root, path), { bigint: true });
  } catch {
    return null;
  }
  if (st.isCharacterDevice()) {
    const dev = st.rdev;
    // glibc's gnu_dev_major/minor split of a 64-bit dev_t
    const ma = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
    const mi = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
    return { path, type: 'c', major: ma, minor: mi, role };
  }
  if (major === undefined) return null;
  return { path, type: 'c', major, minor, role };
}

/** Reads /dev, /sys/class/drm and /proc/devices under `root` (default '/'). */
export function discoverGpus(opts: { root?: string } = {}): GpuDiscovery {
  const root = opts.root ?? '/';
  const majors = parseProcDevices(read(join(root, 'proc/devices')) ?? '').char;
  const shared: GpuDiscovery['shared'] = { nvidia: [], amd: [], intel: [], unknown: [] };
  const gpus: DiscoveredGpu[] = [];

  // NVIDIA: /dev/nvidiaN is 195:N; the GPU index is its minor, as nvidia-smi numbers it
  for (const name of list(join(root, 'dev'))) {
    const m = /^nvidia(\d+)$/.exec(name);
    if (!m) continue;
    const n = node(root, `/dev/${name}`, 'gpu', NVIDIA_MAJOR, Number(m[1]));
    if (n) gpus.push({ index: Number(m[1]), vendor: 'nvidia', nodes: [n] });
  }
  const uvm = majors.get('nvidia-uvm');
  for (const [name, role, major, minor] of [
    ['nvidiactl', 'control', NVIDIA_MAJOR, 255], ['nvidia-modeset', 'modeset', NVIDIA_MAJOR, 254],
    ['nvidia-uvm', 'uvm', uvm, 0], ['nvidia-uvm-tools', 'uvm-tools', uvm, 1],
  ] as Array<[string, NodeRole, number | undefined, number]>) {
    const n = node(root, `/dev/${name}`, role, major, minor);
    if (n) shared.nvidia.push(n);
  }
  const caps: GpuDeviceNode[] = [];
  for (const name of list(join(root, 'dev/nvidia-caps'))) {
    const m = /^nvidia-cap(\d+)$/.exec(name);
    const n = m && node(root, `/dev/nvidia-caps/${name}`, 'cap', majors.get('nvidia-caps'), Number(m[1]));
    if (n) caps.push(n);
  }
  // the PCI address of each NVIDIA GPU, to pair it with its DRM card (nvidia-drm)
  const nvidiaByPci = new Map<string, DiscoveredGpu>();
  for (const pci of list(join(root, 'proc/driver/nvidia/gpus'))) {
    const minor = /Device Minor:\s*(\d+)/.exec(read(join(root, 'proc/driver/nvidia/gpus', pci, 'information')) ?? '');
    const g = minor && gpus.find((x) => x.index === Number(minor[1]));
    if (g) {
      g.pciAddress = pci;
      nvidiaByPci.set(pci, g);
    }
  }

  // DRM: cardN and its render node, with the vendor from the PCI device in sysfs
  let next = gpus.reduce((max, g) => Math.max(max, g.index + 1), 0);
  for (const name of list(join(root, 'sys/class/drm'))) {
    const m = /^card(\d+)$/.exec(name);
    if (!m) continue;
    const sys = join(root, 'sys/class/drm', name);
    const vendor = PCI_VENDORS[(read(join(sys, 'device/vendor')) ?? '').trim()] ?? 'unknown';
    const pci = /PCI_SLOT_NAME=(\S+)/.exec(read(join(sys, 'device/uevent')) ?? '')?.[1];
    const card = node(root, `/dev/dri/${name}`, 'card', DRM_MAJOR, Number(m[1]));
    if (!card) continue;
    const renderName = list(join(sys, 'device/drm')).find((d) => d.startsWith('renderD')) ?? `renderD${128 + Number(m[1])}`;
    const render = node(root, `/dev/dri/${renderName}`, 'render', DRM_MAJOR, Number(renderName.slice(7)));
    const nodes = render ? [card, render] : [card];
    const paired = pci ? nvidiaByPci.get(pci) : undefined;
    if (paired) paired.nodes.push(...nodes);
    else if (vendor !== 'nvidia') gpus.push({ index: next++, vendor, pciAddress: pci, nodes });
  }
  if (gpus.some((g) => g.vendor === 'amd')) {
    const kfd = node(root, '/dev/kfd', 'kfd', majors.get('kfd'), 0);
    if (kfd) shared.amd.push(kfd);
  }

  const gpuMajors = new Set([NVIDIA_MAJOR, DRM_MAJOR]);
  for (const name of GPU_DRIVER_NAMES) {
    const ma = majors.get(name);
    if (ma !== undefined) gpuMajors.add(ma);
  }
  for (const n of [...Object.values(shared).flat(), ...caps, ...gpus.flatMap((g) => g.nodes)]) gpuMajors.add(n.major);
  gpus.sort((a, b) => a.index - b.index);
  return { gpus, shared, caps, gpuMajors: [...gpuMajors].sort((a, b) => a - b) };
}
