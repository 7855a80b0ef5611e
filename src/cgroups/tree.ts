// The managed subtree: a directory under the cgroup2 mount that gpuslice owns.
// Every handle it gives out is confined to it.
import { GpusliceError } from '../errors.js';
import { CgroupFs, splitRelative } from './fs.js';
import { Cgroup, type CgroupContext } from './cgroup.js';
import { probeFeatures, type CgroupFeatures } from './features.js';
import { findCgroup2Mount } from './mount.js';

export interface OpenOptions {
  /** the cgroup2 mount point; found from /proc/self/mountinfo when omitted */
  mount?: string;
  /** the managed root, relative to the mount: "gpuslice" or "system.slice/gpuslice.service/payload" */
  root: string;
  /** make the root if missing (default); false for a cgroup someone else owns, such as a unit's */
  create?: boolean;
}

export class CgroupTree {
  /** absolute mount point of the cgroup2 hierarchy */
  readonly mount: string;
  /** absolute path of the managed root */
  readonly path: string;
  /** the managed root itself */
  readonly root: Cgroup;
  private readonly ctx: CgroupContext;

  private constructor(mount: string, rootRel: string) {
    const fs = new CgroupFs(`${mount.replace(/\/+$/, '')}/${rootRel}`);
    let features: Promise<CgroupFeatures> | undefined;
    this.ctx = {
      fs,
      mount,
      prefix: `/${rootRel}`,
      features: () => (features ??= probeFeatures(fs, '')),
    };
    this.mount = mount;
    this.path = fs.root;
    this.root = new Cgroup(this.ctx, '');
  }

  /** Opens the managed root under the cgroup2 mount, creating it (mkdir -p) if missing. */
  static async open(opts: OpenOptions): Promise<CgroupTree> {
    const mount = opts.mount ?? findCgroup2Mount();
    const parts = splitRelative(opts.root);
    if (parts.length === 0) {
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', 'the managed cgroup root must be below the mount, not the mount itself', {
        op: 'open', value: opts.root,
      });
    }
    // the mount-level view exists only to create the managed root
    if (opts.create ?? true) await new CgroupFs(mount).mkdir(parts.join('/'));
    return new CgroupTree(mount, parts.join('/'));
  }

  /** cgroup.kill and cgroup.freeze support, probed once in the managed root. */
  features(): Promise<CgroupFeatures> {
    return this.ctx.features();
  }

  /** mkdir -p of name under the managed root. */
  async create(name: string): Promise<Cgroup> {
    splitRelative(name);
    await this.ctx.fs.mkdir(name);
    return new Cgroup(this.ctx, name);
  }

  /** A handle, without touching the filesystem ("" is the managed root). */
  get(name: string): Cgroup {
    return new Cgroup(this.ctx, name);
  }

  /** The handle for a path as /proc/PID/cgroup shows it, or null when outside the managed root. */
  fromCgroupPath(cgroupPath: string): Cgroup | null {
    const prefix = this.ctx.prefix;
    if (cgroupPath === prefix) return this.root;
    if (!cgroupPath.startsWith(prefix + '/')) return null;
    return new Cgroup(this.ctx, cgroupPath.slice(prefix.length + 1));
  }

  /** Direct children of the managed root. */
  list(): Promise<Cgroup[]> {
    return this.root.children();
  }
}
