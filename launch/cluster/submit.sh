#!/usr/bin/env bash
# Submit `openland train` to a running Ray cluster as a Ray job, and wait for it (its log streams here).
#   launch/cluster/submit.sh http://HEAD:8265 [openland train flags...]
#
# Both sides use the project's environment, never whichever python or ray comes first on PATH:
# - here, `ray job submit` is this checkout's .venv/bin/ray (OPENLAND_VENV names another virtual environment);
# - on the head node the job runs $HOME/openland/.venv/bin/python, the environment the cluster YAMLs install
#   (OPENLAND_CLUSTER_PYTHON names another interpreter there), on this checkout's code (--working-dir).
# The run directory goes to $HOME/openland/runs/<name> on the head node unless the flags give --runs-dir;
# fetch it with `ray rsync-down launch/cluster/aws.yaml '~/openland/runs/NAME' runs/NAME`.
# Ray 2.60 turns on token authentication: the token is read from ~/.ray/auth_token.
set -euo pipefail
address=${1:?usage: submit.sh DASHBOARD_ADDRESS [openland train flags...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${OPENLAND_VENV:-$root/.venv}
ray_bin=$venv/bin/ray
if [[ ! -x $ray_bin ]]; then
  echo "submit.sh: $ray_bin not found: run 'make venv' in $root first, or set OPENLAND_VENV to the project's virtual environment" >&2
  exit 2
fi
# the entrypoint is one command line for bash on the head node (Ray quotes each word it is given, so it gets
# `bash -c LINE`): the user's flags quoted here, $HOME left for that shell to expand
cluster_python=${OPENLAND_CLUSTER_PYTHON:-'$HOME/openland/.venv/bin/python'}
entrypoint="$cluster_python -m launch.cli train"
runs_dir_given=0
for arg in "$@"; do
  entrypoint+=" $(printf '%q' "$arg")"
  [[ $arg == --runs-dir || $arg == --runs-dir=* || $arg == --runs_dir || $arg == --runs_dir=* ]] && runs_dir_given=1
done
if (( ! runs_dir_given )); then
  entrypoint+=' --runs-dir $HOME/openland/runs'
fi
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
exec "$ray_bin" job submit --address "$address" --working-dir "$root" -- bash -c "$entrypoint"
