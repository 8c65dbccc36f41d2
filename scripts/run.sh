#!/usr/bin/env bash
# Run the main experiment (experiments/run_tiered.py) in the project's environment; arguments pass through.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$(bash "$root/scripts/env.sh")"
cd "$root"
exec "$py" experiments/run_tiered.py "$@"
