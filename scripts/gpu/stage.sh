#!/usr/bin/env bash
# Runs HERE (the development machine): copies this worktree's files (tracked and untracked-not-ignored) and
# the model fixtures into <main checkout>/.gpu_stage, which the device tool carries to the GPU machine
# beside the checkout itself. Then, with the device tool:
#   run(command="cd .gpu_stage && bash scripts/gpu/build_test_bench.sh", carry=[".gpu_stage", ".debs"])
# <main checkout>/.git/info/exclude must list /.gpu_stage/ and /.debs/ (the .deb files: see
# scripts/gpu/build_test_bench.sh).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MAIN=${1:-/work/main}
FIXTURES=${SHARDLM_FIXTURES:-$SRC/../shared/fixtures}
STAGE=$MAIN/.gpu_stage
rm -rf "$STAGE"
mkdir -p "$STAGE"
(cd "$SRC" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$STAGE")
if [[ -d $FIXTURES/models ]]; then
  mkdir -p "$STAGE/_fixtures"
  cp -a "$FIXTURES/models" "$STAGE/_fixtures/"
fi
{
  echo "staged: $(date -u +%Y-%m-%dT%H:%M:%SZ) from $SRC"
  echo "commit: $(git -C "$SRC" rev-parse HEAD) ($(git -C "$SRC" rev-parse --abbrev-ref HEAD))"
  git -C "$SRC" status --short | sed 's/^/dirty: /'
} > "$STAGE/STAGE_INFO"
du -sh "$STAGE" "$MAIN/.debs" 2>/dev/null || true
