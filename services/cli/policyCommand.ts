import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../shared/audit/policy.js';
import { checkPolicy } from '../../shared/analysis/policyCheck.js';
import { InputError, errorMessage } from '../../shared/errors.js';

/**
 * `kubetrail policy check FILE`: what kubetrail would be blind to under an audit Policy, need by
 * need, with the rule to add. Exit 1 when anything it needs is not recorded (a pipeline can gate
 * on it), 0 when everything is.
 */
export function policyCheckCommand(file: string, flags: { output: 'text' | 'json' }): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read it (${errorMessage(err)})`);
  }
  const { needs, stages } = checkPolicy(parsePolicy(text, file));
  const short = needs.filter((n) => n.state !== 'recorded');
  if (flags.output === 'json') process.stdout.write(`${JSON.stringify({ file, ok: short.length === 0 && stages.length === 0, needs, stages }, null, 2)}\n`);
  else {
    const lines = [`${file}: ${short.length === 0 && stages.length === 0 ? 'OK: everything kubetrail reads is recorded' : `${short.length} need(s) not recorded`}`];
    for (const n of needs) {
      lines.push(`${n.state.toUpperCase().padEnd(9)} ${n.what} (${n.serves})`);
      for (const m of n.missed) lines.push(`            ${m}`);
      if (n.fix) lines.push(...n.fix.split('\n').map((l) => `            ${l}`));
    }
    for (const s of stages) lines.push(`STAGES    ${s}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return short.length === 0 && stages.length === 0 ? 0 : 1;
}
