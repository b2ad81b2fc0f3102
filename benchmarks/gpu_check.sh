#!/usr/bin/env bash
# One prepared GPU check for a machine with one NVIDIA GPU and no network, within 8 minutes:
#   bash benchmarks/gpu_check.sh [--dry-run] [OUTDIR]      (OUTDIR defaults to $OUT)
# writes OUTDIR/gpu_check.json (one entry per step: ok, figures or the error) and OUTDIR/gpu_check.log.
# Before: benchmarks/gpu_prepare.sh here, which fills the git-ignored .gpu_wheels/ (packages that machine's
# python3 lacks, and yololab's own wheel) and .gpu_data/ (coco128, yolov5n.pt); carry both there.
# Steps (benchmarks/gpu_check.py): env, the tests marked cuda, loader and training throughput, FP16
# latency, a 1-process torchrun epoch (NCCL), a 2-backbone compare, then (in what time is left) 1 vs 2
# training cells at once on the GPU, each without and with the shared image cache (packing). A failing step is recorded and the
# others go on. --dry-run: tiny CPU versions of every step (what tests/test_gpu_check.py runs).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DRY=0
DEST="${OUT:-}"
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $arg (expected --dry-run and an output folder)" >&2; exit 2 ;;
    *) DEST="$arg" ;;
  esac
done
if [ -z "$DEST" ]; then
  echo "gpu_check.sh: no output folder: give one as an argument or set OUT" >&2; exit 2
fi
mkdir -p "$DEST" || exit 2
DEST=$(cd "$DEST" && pwd)
LOG="$DEST/gpu_check.log"
: >"$LOG"
PY=${PYTHON:-python3}
DEADLINE=${GPU_CHECK_DEADLINE_S:-450}   # the steps' share of the 8 minutes (installing comes first)
[ "$DRY" = 1 ] && DEADLINE=${GPU_CHECK_DEADLINE_S:-900}   # a dry run on a loaded 2-core CPU is slower
echo "gpu_check: $(date -u +%FT%TZ) dry_run=$DRY python=$($PY -c 'import sys; print(sys.version.split()[0])')" | tee -a "$LOG"

# The data: .gpu_data/ (copied by gpu_prepare.sh), else ../shared beside the checkout.
DATA="$REPO/.gpu_data"
[ -f "$DATA/data/coco128/data.yaml" ] || DATA="$(cd "$REPO/.." && pwd)/shared"
export YOLOLAB_TEST_SHARED="$DATA"

# Packages: the wheels in .gpu_wheels/ go into a private folder (nothing of that machine's python3 changes).
SITE="$DEST/work/site"
PYPATH="$REPO/src"
if [ -d "$REPO/.gpu_wheels" ]; then
  rm -rf "$SITE"; mkdir -p "$SITE"
  missing=()
  for mod in faster_coco_eval:faster-coco-eval yaml:pyyaml tqdm:tqdm safetensors:safetensors; do
    $PY -c "import ${mod%%:*}" 2>/dev/null || missing+=("${mod##*:}")
  done
  wheels=("${missing[@]}")
  if [ "$DRY" = 0 ]; then wheels+=(yololab); fi   # the real run uses the installed yololab (--no-deps)
  if [ "${#wheels[@]}" -gt 0 ]; then
    echo "installing from .gpu_wheels: ${wheels[*]}" | tee -a "$LOG"
    if ! $PY -m pip install -q --no-index --no-deps --find-links "$REPO/.gpu_wheels" --target "$SITE" \
        "${wheels[@]}" >>"$LOG" 2>&1; then
      echo "gpu_check: pip install from .gpu_wheels failed (see the log)" | tee -a "$LOG"
    fi
  fi
  if [ "$DRY" = 0 ] && [ -d "$SITE/yololab" ]; then PYPATH="$SITE"; else PYPATH="$REPO/src:$SITE"; fi
fi
export PYTHONPATH="$PYPATH${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

args=(--out "$DEST" --data-root "$DATA" --deadline-s "$DEADLINE")
[ "$DRY" = 1 ] && args+=(--dry-run)
timeout $((DEADLINE + 30)) $PY benchmarks/gpu_check.py "${args[@]}" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
if [ ! -s "$DEST/gpu_check.json" ]; then   # the driver itself died: still one JSON saying so
  printf '{"ok": false, "dry_run": %s, "error": "gpu_check.py exited %s before writing any result (see gpu_check.log)", "steps": {}}\n' \
    "$([ "$DRY" = 1 ] && echo true || echo false)" "$status" >"$DEST/gpu_check.json"
fi
echo "gpu_check: exit $status, $DEST/gpu_check.json" | tee -a "$LOG"
exit "$status"
