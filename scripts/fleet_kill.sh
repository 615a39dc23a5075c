#!/usr/bin/env bash
# The 1,000-batch / 10-kill run of issue 19 (docs/live.md, "Several workers
# per site"): three `biotwin live` workers on one PostgreSQL site replay
# 1,000 IndPenSim batches (about 200 s at 4,000x) while one of them is
# killed with SIGKILL at 10 seeded moments and restarted; then every
# prediction must be stored exactly once and equal an uninterrupted run's,
# and `biotwin audit verify` must pass. Prints the takeover times.
#
#   BIOTWIN_PG_URL=postgres://user@127.0.0.1:PORT/postgres scripts/fleet_kill.sh
#
# (a user who may create databases; .ci/run shows how to start a
# throw-away cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIOTWIN_PG_URL:?set BIOTWIN_PG_URL (see docs/live.md)}"
export BIOTWIN_REQUIRE_PG=1
uptime
cargo test --release -p biotwin --test integration fleet_1000_batches_10_kills_on_postgres \
  -- --ignored --nocapture 2>&1 | grep -E "batches, 3 workers|test result|panicked|FAILED"
uptime
