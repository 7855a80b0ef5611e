// The BPF device gate: libbpf through koffi, the gate, device rules.
export { DeviceGate, cgroupIdOf, DEFAULT_PIN_DIR, type DeviceGateOptions, type GateSpec, type DenialEvent } from './gate.js';
export { parseDeviceRule, formatDeviceRule, reduceRules, RUNC_DEFAULT_RULES, type DeviceRule, type ReducedRules } from './rules.js';
export { planRules } from './plan.js';
export { ensureBpffs, bpffsMounts } from './bpffs.js';
export type { GateLogger } from './log.js';
export { rulesForGpus, nodesForGpus } from './gpus.js';
