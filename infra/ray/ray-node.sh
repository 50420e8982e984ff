#!/bin/bash
# Start Ray on a void-farm node, the same way by hand, from `ray up` and inside the image
# (installed there as /usr/local/bin/void-farm-ray-node).
#
#   ray-node.sh head   [extra `ray start` options...]
#   ray-node.sh worker HEAD_HOST:6379 [extra `ray start` options...]
#
# What it adds to a plain `ray start`:
# - object spilling and Ray's session files on local NVMe ($VOID_FARM_RAY_LOCAL, default
#   /mnt/nvme/ray): spilled frames never go over the network to the shared storage;
# - the custom resource `void_gpu` = how many of this node's GPUs have at least
#   $VOID_FARM_VOID_GPU_MIB MiB (default 40000: VOID's pass 1 budget), counted with nvidia-smi;
#   Ray itself detects `GPU` from the devices it sees;
# - token authentication on (RAY_AUTH_MODE=token) with the token read from
#   $RAY_AUTH_TOKEN_PATH (or $RAY_AUTH_TOKEN); it refuses to start without one, rather than
#   bring up a node anyone on the network can run code on. RAY_AUTH_MODE=disabled opts out.
set -euo pipefail

usage() {
    echo "usage: $0 head [ray start options...] | $0 worker HEAD_HOST:PORT [ray start options...]" >&2
    exit 2
}

local_dir="${VOID_FARM_RAY_LOCAL:-/mnt/nvme/ray}"
min_void_gpu_mib="${VOID_FARM_VOID_GPU_MIB:-40000}"

role="${1:-}"
[ -n "$role" ] || usage
shift

export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
if [ "$RAY_AUTH_MODE" = token ] && [ -z "${RAY_AUTH_TOKEN:-}" ]; then
    token_path="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
    if [ ! -s "$token_path" ]; then
        echo "ray-node: no Ray auth token at $token_path: copy the cluster's token there" \
             "(made once with \`ray get-auth-token --generate\`) or set RAY_AUTH_TOKEN_PATH" >&2
        exit 1
    fi
    export RAY_AUTH_TOKEN_PATH="$token_path"
fi

void_gpus() {
    command -v nvidia-smi >/dev/null 2>&1 || { echo 0; return; }
    nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null \
        | awk -v min="$min_void_gpu_mib" '$1 + 0 >= min { n++ } END { print n + 0 }'
}

mkdir -p "$local_dir/spill"
options=(--object-spilling-directory="$local_dir/spill" --disable-usage-stats)
count="$(void_gpus)"
if [ "$count" -gt 0 ]; then
    options+=(--resources="{\"void_gpu\": $count}")
fi

case "$role" in
    head)
        # The head keeps Ray's session files (logs, sockets) on local disk too.
        mkdir -p "$local_dir/session"
        exec ray start --head --port=6379 --dashboard-host=0.0.0.0 \
            --temp-dir="$local_dir/session" "${options[@]}" "$@"
        ;;
    worker)
        address="${1:-}"
        [ -n "$address" ] || usage
        shift
        exec ray start --address="$address" "${options[@]}" "$@"
        ;;
    *)
        usage
        ;;
esac
