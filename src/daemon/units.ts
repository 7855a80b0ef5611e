// systemd units as containers: a unit's [X-GPUSlice] drop-ins, resolved with
// systemd's precedence. A unit whose drop-ins have errors is refused, so it does
// not start (its ExecStartPre fails) rather than run with settings it did not ask for.
import { resolveUnit, formatIssue, type UnitGpuSettings } from '../config/index.js';
import { GpusliceError } from '../errors.js';

export async function unitSettings(unit: string, root?: string): Promise<UnitGpuSettings> {
  const r = await resolveUnit(unit, { root });
  if (r.errors.length) {
    throw new GpusliceError('GS_ERR_DROPIN_VALUE', `unit ${unit} has bad [X-GPUSlice] settings:\n${r.errors.map(formatIssue).join('\n')}`, {
      file: r.errors[0].file,
      line: r.errors[0].line,
      col: r.errors[0].col,
    });
  }
  return r.settings;
}
