"""Runs Kagi's black-box conformance modules: `python -m runner --kagi PATH`.

Starts Kagi with TLS on a free loopback port and a fresh SQLite database in a
temporary folder, registers the clients the plans need through the CLI, runs
every module (a few at a time), prints a table, and exits non-zero on any FAIL.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import os
import sys
import tempfile
import time
import traceback

from . import basic, checks, env as envmod, fapi2, fapi2_plan, flows, jose, kagi_extra, logout, report  # noqa: F401  (modules register themselves)
from .checks import Ctx, Skip, Stop
from .env import Backchannel, Client, Kagi
from .registry import MODULES, PLANS


def register_clients(env: flows.Env):
    k = env.kagi
    rp = env.base

    def add(name, client_id, alias, auth="client_secret_basic", **kw):
        redirect = kw.pop("redirect", rp(alias) + "/callback")
        plr = kw.pop("post_logout", None)
        key_obj, key_alg = kw.pop("key", None), kw.pop("key_alg", None)
        response_mode = kw.pop("response_mode", "default")
        jwks = None
        kid = None
        if key_obj is not None:
            kid = f"{client_id}-key-1"
            jwks = {"keys": [jose.public_jwk(key_obj, kid, key_alg)]}
        out = k.add_client(client_id, [redirect], auth_method=None if kw.get("public") else auth, jwks=jwks,
                           post_logout=[plr] if plr else [], **kw)
        env.clients[name] = Client(client_id=client_id, secret=out.get("client_secret"), auth_method="none" if kw.get("public") else auth,
                                  redirect_uri=redirect, id_token_alg=kw.get("id_token_alg") or "RS256", private_key=key_obj, kid=kid,
                                  key_alg=key_alg, public=bool(kw.get("public")), post_logout_redirect_uri=plr,
                                  backchannel_logout_uri=kw.get("backchannel"), response_mode=response_mode)

    add("basic", "conformance-basic", "kagi", post_logout=rp("kagi") + "/post_logout_redirect")
    add("basic2", "conformance-basic-2", "kagi")
    for alg in ("ES256", "PS256", "EdDSA"):
        add(f"basic-{alg.lower()}", f"conformance-basic-{alg.lower()}", "kagi", id_token_alg=alg)
    add("post", "conformance-post", "kagi", auth="client_secret_post")
    # The Form Post plan's clients (alias kagi-fp): the same three, asking for response_mode=form_post.
    add("fp-basic", "conformance-fp-basic", "kagi-fp", response_mode="form_post")
    add("fp-basic2", "conformance-fp-basic-2", "kagi-fp", response_mode="form_post")
    add("fp-post", "conformance-fp-post", "kagi-fp", auth="client_secret_post", response_mode="form_post")
    add("pkjwt", "conformance-pkjwt", "kagi", auth="private_key_jwt", key=jose.new_rsa_key(), key_alg="RS256")
    add("pkjwt2", "conformance-pkjwt-2", "kagi", auth="private_key_jwt", key=jose.new_ec_key(), key_alg="ES256")
    add("logout", "conformance-logout", "kagi-logout", post_logout=rp("kagi-logout") + "/post_logout_redirect")
    add("bclogout", "conformance-backchannel", "kagi-bc", post_logout=rp("kagi-bc") + "/post_logout_redirect",
        backchannel=env.backchannel.url("/test/a/kagi-bc/backchannel_logout"))
    # FAPI 2.0 (alias kagi-fapi2): client 1 signs PS256 with an RSA key, client 2
    # ES256 with an EC key and the suite's redirect URI with a dummy query.
    add("fapi2", "conformance-fapi2", "kagi-fapi2", auth="private_key_jwt", key=jose.new_rsa_key(), key_alg="PS256",
        id_token_alg="PS256", profile="fapi2", third_party=True)
    add("fapi2-2", "conformance-fapi2-2", "kagi-fapi2", auth="private_key_jwt", key=jose.new_ec_key(), key_alg="ES256",
        id_token_alg="ES256", profile="fapi2", third_party=True, redirect=rp("kagi-fapi2") + "/callback?dummy1=lorem&dummy2=ipsum")
    add("kagi-web", "kagi-web", "kagi-extra", authorization_details_types=["withdrawal", "order"])
    add("kagi-native", "kagi-native", "kagi-extra", public=True, redirect="http://127.0.0.1/kagi-native/callback")
    add("kagi-req-past", "kagi-require-phr-past", "kagi-extra", require_acr="phr", require_acr_from="2020-01-01")
    add("kagi-req-future", "kagi-require-phr-future", "kagi-extra", require_acr="phr", require_acr_from="2099-01-01")


def run_module(env: flows.Env, m) -> Ctx:
    ctx = Ctx(m.name, m.variant)
    started = time.time()
    try:
        m.fn(ctx, env, m)
    except (Stop, Skip):
        pass
    except Exception as e:  # a runner or transport problem: the module cannot be judged
        ctx.fail(f"runner error: {type(e).__name__}: {e}")
        ctx.notes.append(traceback.format_exc())
    ctx.seconds = time.time() - started
    return ctx


def clip(s: str, n: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="conformance/run")
    ap.add_argument("--kagi", required=True, help="path of the kagi binary")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("CONFORMANCE_JOBS", "4")))
    ap.add_argument("--only", action="append", default=[], help="run modules whose name matches this glob (repeatable)")
    ap.add_argument("--plan", action="append", default=[], help="run modules of plans whose name matches this glob (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (database, keys, log)")
    ap.add_argument("--list", action="store_true", help="list the modules and exit")
    ap.add_argument("--verbose", action="store_true", help="print every finding of every module, INFO included")
    ap.add_argument("--browser", choices=("chromium", "firefox"), default="chromium",
                    help="whose navigation rules the emulated browser follows: chromium (and WebKit) apply a page's CSP "
                         "form-action to the redirects after a form submission, firefox does not (default: chromium, the strict one)")
    args = ap.parse_args(argv)

    plans = [p.name for p in PLANS]
    modules = [m for m in MODULES if (not args.only or any(fnmatch.fnmatch(m.name, p) for p in args.only))
               and (not args.plan or any(fnmatch.fnmatch(m.plan, p) for p in args.plan))]
    modules.sort(key=lambda m: plans.index(m.plan))
    if args.list:
        for m in modules:
            print(f"{m.plan:62} {m.name:78} {m.variant}")
        return 0

    t0 = time.time()
    workdir = tempfile.mkdtemp(prefix="kagi-conformance-")
    ca, cert, key = envmod.make_ca(workdir)
    smtp, mailbox = envmod.start_smtp()
    backchannel = Backchannel()
    kagi = Kagi(os.path.abspath(args.kagi), workdir, ca, cert, key, smtp.server_address[1])
    ok = False
    results: dict[int, Ctx] = {}
    try:
        kagi.start()
        env = flows.Env(kagi, mailbox, backchannel)
        env.browser_kind = args.browser
        register_clients(env)
        print(f"Kagi {env.issuer} (TLS, throwaway CA), SQLite in {workdir}; {len(modules)} modules, {args.jobs} at a time, "
              f"{args.browser} navigation rules", flush=True)
        order = sorted(range(len(modules)), key=lambda i: -modules[i].waits)  # start the waiting ones first
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futs = {pool.submit(run_module, env, modules[i]): i for i in order}
            for fut in concurrent.futures.as_completed(futs):
                results[futs[fut]] = fut.result()
        ok = True
    finally:
        kagi.stop()
        smtp.shutdown()
        backchannel.server.shutdown()

    plan = None
    print()
    for i, m in enumerate(modules):
        ctx = results[i]
        if m.plan != plan:
            plan = m.plan
            cert = "certification plan" if m.certification else "NOT a certification plan"
            print(f"== {plan} ({cert})")
            print(f"{'module':78} {'variant':36} {'result':8} reason")
        v = ctx.verdict
        reason = ctx.reason() if v != "PASS" or not ctx.notes else ctx.notes[0]
        print(f"{m.name:78} {m.variant:36} {v:8} {clip(reason, 160)}")
    if args.verbose:
        print("\nAll findings:")
        for i, m in enumerate(modules):
            ctx = results[i]
            print(f"  {m.name} [{m.variant}] {ctx.verdict} in {ctx.seconds:.1f} s")
            for sev, msg in ctx.findings:
                print(f"    {sev}: {msg}")
            for n in ctx.notes:
                print(f"    note: {n}")
    warned = [(m, results[i]) for i, m in enumerate(modules) if results[i].verdict in ("WARNING", "SKIPPED")]
    bad = [(m, results[i]) for i, m in enumerate(modules) if results[i].verdict == "FAIL"]
    if warned:
        print("\nWarnings and skips (a WARNING counts as passed, a SKIPPED as neither; each is explained in conformance/README.md):")
        for m, ctx in warned:
            for sev, msg in ctx.findings:
                if sev == checks.WARN:
                    print(f"  {m.name} [{m.variant}]: WARNING: {msg}")
            if ctx.skipped:
                print(f"  {m.name} [{m.variant}]: SKIPPED: {ctx.skipped}")
    if bad:
        print("\nFailures:")
        for m, ctx in bad:
            for sev, msg in ctx.findings:
                if sev == checks.FAIL:
                    print(f"  {m.name} [{m.variant}]: {msg}")
            for n in ctx.notes:
                if n.startswith("Traceback"):
                    print("    " + n.replace("\n", "\n    "))
        print(f"\nKagi's log: {kagi.log_path}")
    if not args.keep and not bad and ok:
        envmod.cleanup_dir(workdir)
    print(f"\nconformance run took {time.time() - t0:.0f} s\n")
    verdicts = [results[i].verdict for i in range(len(modules))]
    print("\n".join(report.summary_lines(modules, verdicts)))
    _, failed, _ = report.totals(modules, verdicts)
    return 1 if failed or not ok else 0


if __name__ == "__main__":
    sys.exit(main())
