"""Benchmark governance.crypto: the mix, decryption and ballot verification, against a yardstick.

    .venv/bin/python bench/crypto.py                      # 1,000 and 10,000 ballots x 15 options, workers 1 and 2
    .venv/bin/python bench/crypto.py --sizes 100000       # the long one
    .venv/bin/python bench/crypto.py --sizes 1000 --browser   # also time encryption in headless Chromium

Prints seconds per step and, as a ratio, how many libsodium scalar multiplications (measured in
the same run, the yardstick) each step costs per ciphertext. Never asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import random
import socketserver
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import yardstick  # noqa: E402

from governance.crypto import (  # noqa: E402
    ElectionParams,
    _work,  # noqa: E402
    combine,
    decryption_factors,
    encrypt_ballot,
    platform_keypair,
    shuffle,
    unpack,
    verify_ballot,
    verify_decryption_factors,
    verify_shuffle,
)
from governance.crypto import group as g  # noqa: E402

WIDTH = 15


def make_params():
    key = platform_keypair(bytes(range(32)))
    params = ElectionParams(election_id="ab" * 16, poll=1, options=[f"candidate {i}" for i in range(WIDTH)],
                            max_value=WIDTH, public_key=key.public_key, threshold=1,
                            trustees=[{"index": 1, "name": "platform", "verification_key": key.public_key}])
    return params, key


def make_tuples(params, n: int, workers: int):
    """n random rank ballots, encrypted quickly: (0, m·g) re-encrypted with fresh randomness (no proofs)."""
    rnd = random.Random(n)
    points = [g.smul_base(m) for m in range(WIDTH + 1)]
    plain = b"".join(g.IDENTITY + points[rnd.randint(0, WIDTH)] for _ in range(n * WIDTH))
    rand = b"".join(g.Secret.random().public_bytes() for _ in range(n * WIDTH))
    with _work.pool(workers, n * WIDTH) as ex:
        chunks = _work.split(n * WIDTH, 1 if ex is None else 2 * workers)
        packed = b"".join(_work.run(ex, _work.reencrypt, [(plain[64 * lo:64 * hi], rand[32 * lo:32 * hi],
                                                           params.public_key) for lo, hi in chunks]))
    return unpack(packed, WIDTH)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_size(params, key, n: int, workers_list) -> None:
    tuples = make_tuples(params, n, max(workers_list))
    cts = n * WIDTH
    unit = yardstick()  # again here: the machine is shared, its speed moves during a run
    print(f"\n{n:,} ballots x {WIDTH} options = {cts:,} ciphertexts; yardstick now {unit * 1e6:.1f} us")
    print(f"{'step':34} {'workers':>7} {'seconds':>9} {'yardsticks/ciphertext':>22}")
    for workers in workers_list:
        rows = []
        t, (out, proof) = timed(lambda: shuffle(params, tuples, mixer=1, workers=workers))  # noqa: B023
        rows.append(("shuffle + proof", t))
        t, _ = timed(lambda: verify_shuffle(params, tuples, out, proof, mixer=1, workers=workers))  # noqa: B023
        rows.append(("verify shuffle", t))
        t, (factors, dproof) = timed(lambda: decryption_factors(params, key.secret, 1, out,  # noqa: B023
                                                                workers=workers))  # noqa: B023
        rows.append(("decryption factors + proof", t))
        t, _ = timed(lambda: verify_decryption_factors(params, 1, out, factors, dproof,  # noqa: B023
                                                       workers=workers))  # noqa: B023
        rows.append(("verify decryption", t))
        t, values = timed(lambda: combine(params, out, {1: factors}, workers=workers))  # noqa: B023
        rows.append(("combine + decode", t))
        assert sum(v is None for row in values for v in row) == 0
        for name, t in rows:
            print(f"{name:34} {workers:>7} {t:>9.2f} {t / cts / unit:>22.2f}")
        sys.stdout.flush()


def bench_verify_ballot(params, count: int = 300) -> None:
    ballots = [encrypt_ballot(params, [random.randint(0, WIDTH) for _ in range(WIDTH)], f"{i:032x}")[0]
               for i in range(count)]
    t = time.process_time()
    for i, b in enumerate(ballots):
        verify_ballot(params, b, f"{i:032x}")
    per = (time.process_time() - t) / count
    wall = time.perf_counter()
    for _ in range(count // 3):
        encrypt_ballot(params, [1] * WIDTH, "00" * 16)
    enc = (time.perf_counter() - wall) / (count // 3)
    print(f"\nverify_ballot, {WIDTH} options: {per * 1000:.2f} ms CPU per ballot (target <= 3 ms); "
          f"encrypt_ballot in Python: {enc * 1000:.2f} ms")


PAGE = """<!doctype html><meta charset=utf-8><title>bench</title><script type=module src=bench.js></script>"""
SCRIPT = """import * as gc from './governance-crypto.js';
const params = await (await fetch('params.json')).json();
const values = params.options.map((_, i) => (i % params.max_value) + 1);
const times = [];
for (let i = 0; i < 12; i++) {
  const t = performance.now();
  const r = gc.encryptBallot(params, values, 'ab'.repeat(16));
  times.push(performance.now() - t);
  if (i === 0) gc.verifyBallot(params, r.ballot, 'ab'.repeat(16));
}
document.title = 'done ' + JSON.stringify(times);
"""


def bench_browser(params) -> None:
    bundle = ROOT / "static" / "vendor" / "governance-crypto.js"
    if not bundle.exists():
        print("\nbrowser: static/vendor/governance-crypto.js is missing (run scripts/build-js)")
        return
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "index.html").write_text(PAGE)
        (Path(d) / "bench.js").write_text(SCRIPT)
        (Path(d) / "governance-crypto.js").write_bytes(bundle.read_bytes())
        (Path(d) / "params.json").write_text(json.dumps(params.to_dict()))
        (Path(d) / "favicon.ico").write_bytes(b"")

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=d, **kw)

            def end_headers(self):  # the platform's policy: no inline script, no eval
                self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'self'")
                super().end_headers()

            def log_message(self, *a):
                pass

        with socketserver.TCPServer(("127.0.0.1", 0), Handler) as httpd:
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
                page = browser.new_page()
                errors = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(url)
                page.wait_for_function("document.title.startsWith('done')", timeout=60000)
                times = json.loads(page.title()[5:])
                browser.close()
            httpd.shutdown()
    print(f"\nbrowser (headless Chromium), encryptBallot with {WIDTH} options: first {times[0]:.0f} ms, "
          f"median of the next {len(times) - 1} {sorted(times[1:])[len(times[1:]) // 2]:.0f} ms (target <= 300 ms)"
          + (f"; console errors: {errors}" if errors else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--browser", action="store_true", help="also time encryption in headless Chromium")
    args = parser.parse_args()
    params, key = make_params()
    unit = yardstick()
    print(f"yardstick: one libsodium scalar multiplication = {unit * 1e6:.1f} us "
          f"(cores: {os.cpu_count()}, load: {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    bench_verify_ballot(params)
    if args.browser:
        with contextlib.suppress(KeyboardInterrupt):
            bench_browser(params)
    for n in args.sizes:
        bench_size(params, key, n, args.workers)
    print(f"\nyardstick at the end: {yardstick() * 1e6:.1f} us; load {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
