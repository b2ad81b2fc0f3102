#!/usr/bin/env bash
# Run HERE (with network/package access) before carrying the checkout to a GPU machine without network:
#   bash benchmarks/gpu_prepare.sh [PYTHON_VERSION ...]     (default: 3.12, that machine's python3, and this one's)
# fills the git-ignored .gpu_wheels/ (faster-coco-eval, pyyaml, tqdm, safetensors for those CPython versions,
# manylinux x86_64, and yololab's own wheel, installed there with --no-deps) and .gpu_data/ (coco128 and
# yolov5n.pt from ../shared). Together with the checkout they must stay under the 64 MiB a device call carries.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SHARED="$(cd "$REPO/.." && pwd)/shared"
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(3.12 "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')")
rm -rf .gpu_wheels .gpu_data
mkdir -p .gpu_wheels .gpu_data/data .gpu_data/weights
for v in $(printf '%s\n' "${versions[@]}" | sort -u); do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$v" --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d .gpu_wheels faster-coco-eval pyyaml tqdm safetensors
done
python3 -m pip wheel -q --no-deps --no-build-isolation -w .gpu_wheels .
cp -r "$SHARED/data/coco128" .gpu_data/data/
cp "$SHARED/weights/yolov5n.pt" .gpu_data/weights/
chmod -R u+w .gpu_data
du -sh .gpu_wheels .gpu_data
echo "carry: .gpu_wheels .gpu_data   then: bash benchmarks/gpu_check.sh \$OUT"
