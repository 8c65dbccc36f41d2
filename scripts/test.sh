#!/usr/bin/env bash
# Run the test suite in the project's environment; arguments pass through to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$(bash "$root/scripts/env.sh")"
cd "$root"
exec "$py" -m pytest -q "$@" tests
