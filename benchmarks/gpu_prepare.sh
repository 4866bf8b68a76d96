#!/usr/bin/env bash
# Make, on this machine, what benchmarks/gpu_figures.py needs on the device
# machine and that machine lacks (it reaches no package registry):
#
#   .gpu/wheels  the wheels of the packages its image does not hold
#                (speechbrain, hyperpyyaml, ruamel.yaml, soundfile and their
#                own needs), for its Python 3.12 on x86-64;
#   .gpu/mini    the synthetic mini corpus of the ``train`` part.
#
# .gpu/ is ignored by git (.gitignore); the device call carries it.
# The command to run there is in docs/benchmarks.md ("Full-size figures on
# a GPU"). Usage, from anywhere: bash benchmarks/gpu_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu/wheels
mkdir -p .gpu/wheels
# The versions this project is tested with (pyproject.toml's ranges).
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/wheels \
    "speechbrain==1.1.2" "hyperpyyaml==1.2.3" "ruamel.yaml==0.18.17" \
    "ruamel.yaml.clib==0.2.15" "soundfile==0.14.0" "cffi==2.0.0" "pycparser==2.23"
python3 - <<'EOF'
import sys

sys.path.insert(0, "benchmarks")
from gpu_figures import MINI_SIZES

from dpda.data.minicorpus import generate_mini_corpus

summary = generate_mini_corpus(".gpu/mini", seed=7, sizes=MINI_SIZES, overwrite=True)
print("mini corpus:", {k: v["bonafide"] + v["spoof"] for k, v in summary["counts"].items()})
EOF
du -sh .gpu/wheels .gpu/mini
