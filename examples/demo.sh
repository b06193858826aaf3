#!/usr/bin/env bash
# The trading demo next to a running Kagi (`cargo run --release -- serve` in
# another terminal, in this repository, with the same configuration).
#
#   examples/demo.sh        registers the demo customer DEMO0001 (password
#                           "demo password 1") and a new demo client, then
#                           serves the demo on http://localhost:3000
#   examples/demo.sh code   prints the newest 6-digit code Kagi wrote to
#                           outbox/ (when KAGI_SMTP_URL is unset)
#
# DEMO_BASE_URL, DEMO_LISTEN and DEMO_ISSUER move the demo or point it at
# another Kagi (see examples/trading_demo/main.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "code" ]; then
  outbox=${KAGI_OUTBOX_DIR:-outbox}
  # Newest first; notices carry no code, so the first mail with one wins.
  files=$(ls -t "$outbox"/*.eml 2>/dev/null || true)
  if [ -z "$files" ]; then
    echo "no mail in $outbox/ yet" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  exec python3 - $files <<'PY'
import email, re, sys
from email import policy

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        message = email.message_from_binary_file(f, policy=policy.default)
    body = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(r"(?<!\d)\d{6}(?!\d)", body)
    if found:
        print(f"{found.group(0)}  ({message['To']}, {message['Subject']})")
        sys.exit(0)
sys.exit("no code in the outbox")
PY
fi

base=${DEMO_BASE_URL:-http://localhost:3000}
cargo build --release --quiet --bin kagi --example trading_demo
target=${CARGO_TARGET_DIR:-target}
kagi=$target/release/kagi
if ! "$kagi" --json user passkeys --customer-code DEMO0001 >/dev/null 2>&1; then
  printf 'demo password 1\n' | "$kagi" --json user add --customer-code DEMO0001 --name "デモ 太郎" \
    --email demo@example.jp --email demo.work@example.com --password-stdin >/dev/null
fi
# A new client each run: its secret is shown only once.
client=$("$kagi" --json client add --client-id "trading-demo-$(date +%s)" --name "Trading demo" \
  --redirect-uri "$base/callback" \
  --post-logout-redirect-uri "$base/" \
  --backchannel-logout-uri "$base/backchannel-logout" \
  --authorization-details-type withdrawal --authorization-details-type order)
field() { printf '%s' "$client" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
DEMO_CLIENT_ID=$(field client_id)
DEMO_CLIENT_SECRET=$(field client_secret)
export DEMO_CLIENT_ID DEMO_CLIENT_SECRET DEMO_BASE_URL=$base
echo "customer DEMO0001, password: demo password 1"
echo "email codes: examples/demo.sh code (Kagi writes mail to outbox/ unless KAGI_SMTP_URL is set)"
exec "$target/release/examples/trading_demo"
