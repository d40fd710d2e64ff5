// Runs the built browser module under node for tests/crypto/test_browser_module.py.
// argv[2]: path of static/vendor/governance-crypto.js; stdin: a JSON list of jobs; stdout: a JSON list of answers.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

// Node 18 (Debian 12's nodejs) has Web Crypto only under node:crypto.
if (!globalThis.crypto) globalThis.crypto = (await import('node:crypto')).webcrypto;
const gc = await import(pathToFileURL(process.argv[2]).href);
const jobs = JSON.parse(readFileSync(0, 'utf8'));
const answers = jobs.map((job) => {
  try {
    if (job.op === 'encrypt') {
      const rng = job.seed === undefined ? undefined : gc.deterministicRng(job.seed);
      return gc.encryptBallot(job.params, job.values, job.credential, { rng });
    }
    if (job.op === 'verify') { gc.verifyBallot(job.params, job.ballot, job.credential); return { ok: true }; }
    if (job.op === 'audit') return { values: gc.auditBallot(job.params, job.ballot, job.secrets) };
    if (job.op === 'tracker') return { tracker: gc.tracker(job.ballot), fingerprint: gc.fingerprint(job.params) };
    return { error: `unknown op ${job.op}` };
  } catch (e) {
    return { error: `${e.name}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(answers));
