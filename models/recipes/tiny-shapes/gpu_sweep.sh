#!/bin/bash
# Optional: a few recipe variants at once on a GPU machine (used once while developing the
# recipe, to choose step counts for the CPU budget). Writes logs and checkpoints under $OUT.
OUT=${OUT:-/tmp/sweep}
mkdir -p "$OUT"
PY=""
for p in python3 /usr/bin/python3 /opt/conda/bin/python python; do
  if $p -c "import torch, PIL, numpy" 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then echo "no python with torch+PIL+numpy"; for p in python3 /usr/bin/python3 python; do $p -c "import torch; print(torch.__version__)"; $p -c "import PIL"; done; exit 3; fi
$PY -c "import torch, PIL; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'PIL', PIL.__version__)"
T=models/recipes/tiny-shapes/train.py
COMMON="--device cuda --threads 2 --workers 3 --no-export --log-every 250"
run() { name=$1; shift; timeout ${LIMIT:-360} $PY -u $T $COMMON --save-ckpt "$OUT/$name.pt" "$@" > "$OUT/$name.log" 2>&1 & }
S="--vdim 96 --proj-dim 96 --cdim 96 --tdim 128 --tinter 384"
run V1 $S --steps0 1000 --steps-lm 200 --steps1 200 --steps2 2500
run V2 --steps0 1200 --steps2 2600
run V3 $S --steps0 1000 --steps-lm 200 --steps1 200 --steps2 2500 --lr0 1e-3 --scale-init 14.3
run V4 --vdim 96 --proj-dim 96 --cdim 96 --steps0 1000 --steps-lm 200 --steps1 200 --steps2 2400 --bs2 48
wait
for f in "$OUT"/*.log; do echo "== $f"; grep -v -i warn "$f" | grep -E "stage0 step|stage2 step|qa_exact|captions|zero_shot|followups\"|timings|Error|error" | tail -14; done
