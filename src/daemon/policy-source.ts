// The policy in force, with hot reload: /etc/gpuslice/policy.yaml, else the shipped
// default. A bad new version is logged with every FILE:LINE:COL and the last good
// policy stays in force.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../paths.js';
import { watchConfig, formatIssue, type Policy } from '../config/index.js';
import type { Logger } from '../log.js';

export const ETC_POLICY = '/etc/gpuslice/policy.yaml';
export const SHIPPED_POLICY = join(REPO_ROOT, 'config/policy.yaml');

export interface PolicySource {
  readonly file: string;
  current(): Policy;
  close(): void;
}

export function defaultPolicyFile(): string {
  return existsSync(ETC_POLICY) ? ETC_POLICY : SHIPPED_POLICY;
}

export interface PolicyWatch {
  onPolicy: (p: Policy) => void;
  /** something changed in the unit directories under unitRoot */
  onUnits?: (paths: string[]) => void;
  unitRoot?: string;
}

export async function openPolicy(file: string | undefined, log: Logger, watch: PolicyWatch): Promise<PolicySource> {
  const policyFile = file ?? defaultPolicyFile();
  const onChange = watch.onPolicy;
  const w = await watchConfig({
    policyFile,
    unitRoot: watch.onUnits ? watch.unitRoot ?? '/' : undefined,
    onEvent: (ev) => {
      if (ev.kind === 'units') {
        watch.onUnits?.(ev.paths);
        return;
      }
      if (ev.ok) {
        log.info({ file: policyFile, classes: Object.keys(ev.policy.classes) }, 'policy reloaded');
        onChange(ev.policy);
      } else {
        for (const e of ev.errors) log.error({ file: policyFile }, `policy not reloaded: ${formatIssue(e)}`);
        log.warn({ file: policyFile }, 'the last good policy stays in force');
      }
    },
  });
  log.info({ file: policyFile, classes: Object.keys(w.current().classes), simulate: w.current().devices.simulate ?? null }, 'policy loaded');
  return { file: policyFile, current: () => w.current(), close: () => w.close() };
}
