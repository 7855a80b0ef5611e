// The JSON Schema of policy.yaml, generated from the zod schema so the two cannot
// drift (a test compares it with config/policy.schema.json). Editors use it for
// completion and checks. Regenerate after changing policy.ts:
//   node dist/src/config/schema-export.js > config/policy.schema.json
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { PolicySchema } from './policy.js';

/** The schema as the text shipped in config/policy.schema.json (ends with a newline). */
export function policyJsonSchema(): string {
  // io 'input': the schema describes what users write ("4G"), not the parsed bytes
  const schema = z.toJSONSchema(PolicySchema, { io: 'input', unrepresentable: 'any' });
  const doc = {
    ...schema,
    $id: 'https://gpuslice.dev/policy.schema.json',
    title: 'gpuslice policy',
    description: 'Generated from src/config/policy.ts by src/config/schema-export.ts; do not edit.',
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.stdout.write(policyJsonSchema());
