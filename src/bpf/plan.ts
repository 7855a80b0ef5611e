// From a container's gate spec to the map entries the program looks up: pure,
// so every validation happens before anything in the kernel changes.
import { GpusliceError } from '../errors.js';
import { reduceRules, RUNC_DEFAULT_RULES, type DeviceRule } from './rules.js';
import * as L from './layout.js';

export interface GateSpec {
  /** 'gpu-only': only char devices of `gpuMajors` are gated; 'strict': all devices */
  mode: 'gpu-only' | 'strict';
  /** allow (and deny) rules, applied in order from deny-all; strict mode starts from runc's defaults */
  rules: readonly DeviceRule[];
  /** the GPU-class char majors gated in gpu-only mode (from discoverGpus) */
  gpuMajors: readonly number[];
}

export interface RuleEntry {
  type: number;
  major: number;
  minor: number;
  access: number;
}

export interface RulePlan {
  mode: number;
  defaultAllow: boolean;
  majors: number[];
  entries: RuleEntry[];
}

/** Validates a spec and computes its map entries. Throws GS_ERR_DEVICE_RULE / GS_ERR_INVALID_ARGUMENT. */
export function planRules(spec: GateSpec): RulePlan {
  if (spec.mode !== 'gpu-only' && spec.mode !== 'strict') {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `device gate mode '${String(spec.mode)}' is not 'gpu-only' or 'strict'`, { value: String(spec.mode) });
  }
  const majors = [...new Set(spec.gpuMajors)];
  if (majors.some((m) => !Number.isInteger(m) || m < 0 || m >= L.DEVGATE_ANY)) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `GPU majors ${JSON.stringify(spec.gpuMajors)} must be device major numbers`, { value: String(spec.gpuMajors) });
  }
  if (spec.mode === 'gpu-only' && majors.length > L.DEVGATE_MAX_MAJORS) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `at most ${L.DEVGATE_MAX_MAJORS} GPU majors can be gated, got ${majors.length}`, { value: String(spec.gpuMajors) });
  }
  const reduced = reduceRules(spec.mode === 'strict' ? [...RUNC_DEFAULT_RULES, ...spec.rules] : spec.rules);
  const entries = reduced.exceptions.map((e) => ({
    type: e.type === 'b' ? L.DEV_BLOCK : L.DEV_CHAR,
    major: e.major === '*' ? L.DEVGATE_ANY : e.major,
    minor: e.minor === '*' ? L.DEVGATE_ANY : e.minor,
    access: L.accessBits(e.access),
  }));
  return { mode: spec.mode === 'strict' ? L.MODE_STRICT : L.MODE_GPU_ONLY, defaultAllow: reduced.defaultAllow, majors: spec.mode === 'strict' ? [] : majors, entries };
}
