#!/usr/bin/env bash
# Run the test suite in the project's environment; arguments pass through to pytest.
#   bash scripts/test.sh              every test (the README's test command, CI)
#   bash scripts/test.sh --unit       the unit tests alone (-m "not e2e"), property tests with a tenth of their examples
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$(bash "$root/scripts/env.sh")"
cd "$root"
if [ "${1:-}" = "--unit" ]; then
    shift
    export SYFT_FL_TESTS=quick
    exec "$py" -m pytest -q -m "not e2e" "$@" tests
fi
exec "$py" -m pytest -q "$@" tests
