// Encrypted ballots in the browser (docs/crypto.md §5): the same ristretto255 group, framing,
// challenge and canonical JSON as governance/crypto, from audited libraries (@noble/curves,
// @noble/hashes). Built into static/vendor/governance-crypto.js by scripts/build-js; no eval.
import { ristretto255 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';

const Point = ristretto255.Point;
const L = Point.Fn.ORDER;
const HEX64 = /^[0-9a-f]{64}$/;
const CRED = /^[0-9a-f]{32}$/;
const enc = new TextEncoder();

export class CryptoError extends Error {}

function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function u64(n) {
  const out = new Uint8Array(8);
  let v = BigInt(n);
  for (let i = 7; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function item(x) {
  if (typeof x === 'number' || typeof x === 'bigint') return u64(x);
  if (typeof x === 'string') return enc.encode(x);
  return x;
}

/** SHA-512 of frame(tag, items…): u64(len) ‖ bytes for the tag and every item. */
function hashFrame(tag, ...items) {
  const h = sha512.create();
  const t = enc.encode(tag);
  h.update(u64(t.length)); h.update(t);
  for (const x of items) { const b = item(x); h.update(u64(b.length)); h.update(b); }
  return h.digest();
}

function leToBig(bytes) {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

function scalarBytes(k) {
  const out = new Uint8Array(32);
  let v = ((k % L) + L) % L;
  for (let i = 0; i < 32; i++) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

const scalarHex = (k) => toHex(scalarBytes(k));
const challenge = (tag, ...items) => leToBig(hashFrame(tag, ...items)) % L;

function readPoint(hex, what) {
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new CryptoError(`${what}: expected a point as 64 lowercase hex digits`);
  let p;
  try { p = Point.fromHex(hex); } catch { throw new CryptoError(`${what} is not a valid point (non-canonical or not in the group)`); }
  if (p.is0()) throw new CryptoError(`${what} is the identity element, which is not allowed`);
  return p;
}

function readScalar(hex, what) {
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new CryptoError(`${what}: expected a scalar as 64 lowercase hex digits`);
  const k = leToBig(fromHex(hex));
  if (k >= L) throw new CryptoError(`${what} is not a reduced scalar`);
  return k;
}

const mul = (p, k) => (k % L === 0n ? Point.ZERO : p.multiply(k % L));
const mulBase = (k) => mul(Point.BASE, k);

/** Canonical JSON (docs/audit.md §2): sorted keys, no whitespace, strings and integers only. */
export function canonicalJson(v) {
  if (v === null || v === true || v === false) return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new CryptoError('canonical JSON allows integers only');
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}';
  }
  throw new CryptoError(`cannot write ${typeof v} as canonical JSON`);
}

/** SHA-256 hex of the canonical JSON of the election parameters. */
export function fingerprint(params) {
  return toHex(sha256(enc.encode(canonicalJson(params))));
}

/** SHA-256 hex of the canonical JSON of the ballot: what the voter keeps to find it. */
export function tracker(ballot) {
  return toHex(sha256(enc.encode(canonicalJson(ballot))));
}

function randomScalar() {
  const b = new Uint8Array(64);
  globalThis.crypto.getRandomValues(b);
  return leToBig(b) % L;
}

/** Reproducible randomness for test vectors only (docs/crypto.md §13): draw i = Hs("governance/v1/test-rng", seed, u64(i)). */
export function deterministicRng(seed) {
  const s = typeof seed === 'string' ? enc.encode(seed) : seed;
  let i = 0;
  return () => challenge('governance/v1/test-rng', s, i++);
}

function context(params) {
  if (!params || !Array.isArray(params.options) || params.options.length < 1) throw new CryptoError('params: options missing');
  const fp = fromHex(fingerprint(params));
  return { fp, w: params.options.length, y: readPoint(params.public_key, 'params: public_key'), max: params.max_value };
}

function ballotChallenge(fp, credential, cts, commits) {
  const cbytes = concat(cts.flatMap(([a, b]) => [a.toBytes(), b.toBytes()]));
  return challenge('governance/v1/ballot', fp, credential, cts.length, cbytes, concat(commits.map((c) => c.toBytes())));
}

/** Encrypt one value per option; returns {ballot, tracker, secrets} (secrets: the randomness, for a Benaloh audit). */
export function encryptBallot(params, values, credential, { rng } = {}) {
  const { fp, w, y, max } = context(params);
  if (typeof credential !== 'string' || !CRED.test(credential)) throw new CryptoError('credential must be 32 lowercase hex digits');
  if (!Array.isArray(values) || values.length !== w) throw new CryptoError(`expected ${w} values, one per option`);
  values.forEach((m, k) => {
    if (!Number.isInteger(m) || m < 0 || m > max) throw new CryptoError(`value ${k} must be an integer from 0 to ${max}`);
  });
  const draw = rng || randomScalar;
  const rs = values.map(() => draw());
  const cts = values.map((m, k) => {
    const ry = mul(y, rs[k]);
    return [mulBase(rs[k]), m ? ry.add(mulBase(BigInt(m))) : ry];
  });
  const nonces = values.map(() => draw());
  const commits = nonces.map(mulBase);
  const c = ballotChallenge(fp, credential, cts, commits);
  const ballot = {
    credential,
    ciphertexts: cts.map(([a, b]) => ({ alpha: a.toHex(), beta: b.toHex() })),
    proof: { challenge: scalarHex(c), responses: nonces.map((a, k) => scalarHex(a + c * rs[k])) },
  };
  return { ballot, tracker: tracker(ballot), secrets: { randomness: rs.map(scalarHex) } };
}

function readBallot(ballot, w) {
  if (!ballot || typeof ballot !== 'object' || canonicalJson(Object.keys(ballot).sort()) !== '["ciphertexts","credential","proof"]') {
    throw new CryptoError('ballot: expected exactly the keys credential, ciphertexts, proof');
  }
  if (!Array.isArray(ballot.ciphertexts) || ballot.ciphertexts.length !== w) throw new CryptoError(`ballot: expected ${w} ciphertexts`);
  return ballot.ciphertexts.map((ct, k) => {
    if (!ct || typeof ct !== 'object' || Object.keys(ct).sort().join() !== 'alpha,beta') throw new CryptoError(`ballot: ciphertext ${k}: expected exactly alpha and beta`);
    return [readPoint(ct.alpha, `ballot: ciphertext ${k}: alpha`), readPoint(ct.beta, `ballot: ciphertext ${k}: beta`)];
  });
}

/** Check a ballot's shape, encodings, credential and proof; throws CryptoError saying what is wrong. */
export function verifyBallot(params, ballot, credential) {
  const { fp, w } = context(params);
  const cts = readBallot(ballot, w);
  if (ballot.credential !== credential) throw new CryptoError('ballot: it was made for another credential');
  const proof = ballot.proof;
  if (!proof || typeof proof !== 'object' || Object.keys(proof).sort().join() !== 'challenge,responses') throw new CryptoError('ballot: proof must have exactly challenge and responses');
  const c = readScalar(proof.challenge, 'ballot: proof challenge');
  if (!Array.isArray(proof.responses) || proof.responses.length !== w) throw new CryptoError(`ballot: proof must have ${w} responses`);
  const ss = proof.responses.map((s, k) => readScalar(s, `ballot: proof response ${k}`));
  const commits = ss.map((s, k) => mulBase(s).subtract(mul(cts[k][0], c)));
  if (ballotChallenge(fp, credential, cts, commits) !== c) throw new CryptoError('ballot: the proof does not verify (altered ballot, other credential or other poll)');
}

/** Benaloh audit: recompute the ciphertexts from the revealed randomness and return the values, or throw. */
export function auditBallot(params, ballot, secrets) {
  const { y, w, max } = context(params);
  const cts = readBallot(ballot, w);
  verifyBallot(params, ballot, ballot.credential);
  if (!secrets || !Array.isArray(secrets.randomness) || secrets.randomness.length !== w) throw new CryptoError(`ballot secrets: expected ${w} randomness values`);
  return cts.map(([a, b], k) => {
    const r = readScalar(secrets.randomness[k], `ballot secrets: randomness ${k}`);
    if (!mulBase(r).equals(a)) throw new CryptoError(`ballot audit: ciphertext ${k} was not made with the revealed randomness`);
    const point = b.subtract(mul(y, r));
    let acc = Point.ZERO;
    for (let m = 0; m <= max; m++) {
      if (acc.equals(point)) return m;
      acc = acc.add(Point.BASE);
    }
    throw new CryptoError(`ballot audit: ciphertext ${k} does not hold a value from 0 to ${max}`);
  });
}
