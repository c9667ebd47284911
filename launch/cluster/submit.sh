#!/usr/bin/env bash
# Submit `openland train` to a running Ray cluster as a Ray job.
#   launch/cluster/submit.sh http://HEAD:8265 [openland train flags...]
# Ray 2.60 turns on token authentication: the token is read from ~/.ray/auth_token.
set -euo pipefail
address=${1:?usage: submit.sh DASHBOARD_ADDRESS [openland train flags...]}
shift
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
root=$(cd "$(dirname "$0")/../.." && pwd)
exec ray job submit --address "$address" --working-dir "$root" -- \
  python -m launch.cli train "$@"
