// `gpuslice validate FILE…`: policy YAML (.yaml/.yml) or unit files and drop-ins.
// Every error of every file as FILE:LINE:COL: message; exit 1 on any.
import { validateFileIssues, fileKind, formatIssue } from '../config/index.js';
import { GpusliceError } from '../errors.js';

export async function validateCommand(argv: string[]): Promise<number> {
  // every command takes --state-dir; validate needs none, so it is accepted and unused
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--state-dir') i++;
    else if (!argv[i].startsWith('--state-dir=') && argv[i] !== '--') files.push(argv[i]);
  }
  if (files.length === 0 || files.some((f) => f.startsWith('-') && f !== '-')) {
    throw new GpusliceError('GS_ERR_USAGE', 'usage: gpuslice validate FILE… (policy .yaml/.yml, or unit files and drop-ins)');
  }
  let errors = 0;
  const kinds = { policy: 0, unit: 0 };
  for (const f of files) {
    const issues = await validateFileIssues(f);
    for (const i of issues) process.stdout.write(formatIssue(i) + '\n');
    errors += issues.length;
    kinds[fileKind(f)]++;
  }
  if (errors > 0) {
    process.stderr.write(`gpuslice: ${errors} error${errors === 1 ? '' : 's'} in ${files.length} file${files.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const parts = [kinds.policy && `${kinds.policy} polic${kinds.policy === 1 ? 'y' : 'ies'}`, kinds.unit && `${kinds.unit} unit file${kinds.unit === 1 ? '' : 's'}`].filter(Boolean);
  process.stdout.write(`ok: ${files.length} file${files.length === 1 ? '' : 's'} valid (${parts.join(', ')})\n`);
  return 0;
}
