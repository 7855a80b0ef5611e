export async function validateCommand(_argv: string[]): Promise<number> { process.stderr.write('gpuslice: not yet\n'); return 2; }
