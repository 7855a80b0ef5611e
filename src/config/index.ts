// The configuration layer's public API: policy YAML, systemd drop-ins, reload.
export { parseSize, parsePercent, parseMemory, parseDuration, formatSize, type MemoryAmount, type Parsed } from './size.js';
export { ConfigError, formatIssue, type ConfigIssue } from './issues.js';
export { PolicySchema, BUILTIN_DEFAULTS, type Policy, type PolicyInput, type ClassPolicy, type EffectiveSettings, type Matcher } from './policy.js';
export { loadPolicy, parsePolicy, checkPolicy, type PolicyCheck } from './load.js';
export { parseUnitFile, type Assignment, type ParsedUnitFile } from './unitfile.js';
export { GPU_SECTION, GPU_KEYS, parseGpuList, type UnitGpuSettings, type UnitSources, type SettingSource } from './unitsettings.js';
export { UNIT_SEARCH_PATHS, dropinDirNames, findUnitFiles, resolveUnit, type ResolveOptions, type UnitFiles, type DropinFile, type ResolvedUnit } from './dropins.js';
export { watchConfig, type ConfigWatcher, type WatchOptions, type ReloadEvent } from './reload.js';
export { validateFile, validateFileIssues, fileKind, type FileKind } from './validate.js';
export { policyJsonSchema } from './schema-export.js';
