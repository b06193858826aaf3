#!/usr/bin/env bash
# Registers a demo customer and the demo trading client with a running Kagi
# (same configuration as `kagi serve`), then starts the trading demo on
# http://localhost:3000. Customer code DEMO0001, password "demo password 1".
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin kagi --example trading_demo
kagi=target/release/kagi
suffix=$(date +%s)
printf 'demo password 1\n' | "$kagi" --json user add --customer-code DEMO0001 --name "デモ 太郎" \
  --email demo@example.jp --password-stdin >/dev/null 2>&1 || echo "(customer DEMO0001 already exists)"
client=$("$kagi" --json client add --client-id "trading-demo-$suffix" --name "Trading demo" \
  --redirect-uri http://localhost:3000/callback)
export DEMO_CLIENT_ID=$(printf '%s' "$client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
export DEMO_CLIENT_SECRET=$(printf '%s' "$client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
echo "customer DEMO0001 / demo password 1 (email codes land in outbox/ unless KAGI_SMTP_URL is set)"
exec target/release/examples/trading_demo
