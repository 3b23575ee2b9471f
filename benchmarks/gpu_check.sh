#!/usr/bin/env bash
# The GPU checks of one short lease on a lent GPU machine, in one call and a fixed time budget:
#   0. the views (benchmarks/views.py): aten ops and ms per call of Kornia's modules, the fused
#      views and the fused views as CUDA graphs at 28/32/96/224 px, the fused stages' profile;
#      the capture and device-decoding tests on the GPU;
#   1. the throughput benchmark on cuda (the GPU targets of docs/performance.md: project against the ceiling and
#      the conventional per-image pipeline with 8 workers at 32, 96 and 224 px, fp32 and
#      bf16-mixed; lightly's loop apart, bf16; the conventional pipeline with 16 workers at 96
#      and 224 px);
#   1d. one training step in chunks (trainer.chunk_size) against one pass at N = 256, 1024,
#      4096: peak CUDA memory and time per image (benchmarks/chunked.py);
#   1e. the ResNet paper's small networks (cifar_resnet20 at width 4; cifar_resnet56 with
#      option-B shortcuts in chunks of 128): 20 steps each, their summary.json;
#   1f. more views, smaller views and multi-crop on cuda (augment.views=4, view_size=20,
#      small_views.count=4; the fused views of 4 groups captured as CUDA graphs): 20 steps;
#   1g. the online kNN block on cuda against cpu and the offline protocol (issue 36);
#   2. the Fashion-MNIST GPU recipe (configs/fashion_mnist.yaml) for as many epochs as fit the
#      time left, measured from step 1's throughput, with its full warm-up + cosine schedule;
#   3. kNN (k = 10, 20, 100, 200) and the linear probe on that encoder's frozen features;
# Each step is bounded by `timeout` and a failure does not stop the next; results go to $OUT.
#
# The machine has no internet and its own torch: carry what it lacks in ignored folders,
#   .whl/      wheels for its Python (kornia, kornia_rs, omegaconf, antlr4, faiss-cpu, lightly,
#              pytest and its pluggy, iniconfig)
#              and this project's wheel (pip wheel --no-deps -w .whl .)
#   .gpudata/  the four Fashion-MNIST *.gz files (/usr/share/datasets/fashion-mnist)
# then run from the repository root: OUT=/some/dir BUDGET=540 bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-/tmp/gpu_check}
BUDGET=${BUDGET:-460}       # seconds for the whole script (one call of at most 8 minutes)
RESERVE=${RESERVE:-90}      # seconds kept for the evaluation after pretraining
PRETRAIN_MIN=${PRETRAIN_MIN:-150}  # seconds kept for pretraining when the throughput runs
EPOCHS=${EPOCHS:-}          # the recipe's epochs; empty: as many as fit, from the throughput
DATA=${DATA:-/tmp/data}
DEVICE=${DEVICE:-cuda}      # cpu: a dry run of this script here, with tiny settings below
THROUGHPUT_ARGS=${THROUGHPUT_ARGS:-}  # e.g. "--steps 1 --warmup 1" for a dry run
VIEWS_ARGS=${VIEWS_ARGS:-}            # e.g. "--sizes 28 --batch-size 8" for a dry run
PRETRAIN_ARGS=${PRETRAIN_ARGS:-}      # e.g. "data.subset=512" for a dry run
CHUNKED_ARGS=${CHUNKED_ARGS:-}        # e.g. "--batches 8 --chunk 4 --steps 1" for a dry run
mkdir -p "$OUT"
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
stage() { echo; echo "=== $1 ($(left) s left)"; }
bounded() {  # bounded SECONDS COMMAND...: skipped (not unbounded) when no time is left
    if [ "$1" -lt 10 ]; then echo "skipped: $1 s left for it"; return 124; fi
    timeout "$@"
}
export PYTHONUNBUFFERED=1

stage "packages and data"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
mkdir -p "$DATA/FashionMNIST/raw"
for archive in .gpudata/*-ubyte.gz; do
    [ -e "$archive" ] && gunzip -c "$archive" >"$DATA/FashionMNIST/raw/$(basename "$archive" .gz)"
done
nvidia-smi 2>/dev/null --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 - <<'EOF' || exit 1
import faiss, kornia, lightning, omegaconf, torch, torchvision
import simclr
print("torch", torch.__version__, "torchvision", torchvision.__version__,
      "lightning", lightning.__version__, "kornia", kornia.__version__,
      "faiss", faiss.__version__, "omegaconf", omegaconf.__version__, "simclr", simclr.__file__)
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print("gpu", gpu, "cpus", __import__("os").cpu_count())
EOF

stage "0. the views: ops and ms per call, modules / fused / fused as CUDA graphs; stages"
bounded 60 python3 benchmarks/views.py --device "$DEVICE" --repeats 10 \
    --out "$OUT/views_cuda.json" $VIEWS_ARGS || echo "views: FAILED or cut ($?)"
bounded 45 python3 -m pytest -q -p no:cacheprovider tests/simclr/views/test_capture.py \
    tests/simclr/data/test_device_decode.py tests/simclr/views/test_ops.py 2>&1 | tail -5

stage "1. throughput on cuda, 32/96/224 px (project, ceiling, conventional with 8 workers)"
bounded $(($(left) - RESERVE - PRETRAIN_MIN - 80)) python3 benchmarks/throughput.py \
    --device "$DEVICE" --image-sizes 32 96 224 --precisions 32-true bf16-mixed \
    --channels-last on --compile off --workers 8 --rounds 1 \
    --variants project ceiling conventional --data-root "$DATA" \
    --out "$OUT/throughput_cuda.json" $THROUGHPUT_ARGS || echo "throughput: FAILED or cut ($?)"
stage "1b. lightly's loop, 8 workers (apart: a broken lightly install loses only its own rows)"
bounded $(($(left) - RESERVE - PRETRAIN_MIN - 40)) python3 benchmarks/throughput.py \
    --device "$DEVICE" --image-sizes 32 96 224 --precisions bf16-mixed --channels-last on \
    --compile off --workers 8 --variants lightly --lightly-python "$(command -v python3)" \
    --data-root "$DATA" --out "$OUT/throughput_cuda_lightly.json" $THROUGHPUT_ARGS \
    || echo "throughput lightly: FAILED or cut ($?)"
stage "1c. the conventional pipeline with 16 workers, 96 and 224 px"
bounded $(($(left) - RESERVE - PRETRAIN_MIN)) python3 benchmarks/throughput.py \
    --device "$DEVICE" --image-sizes 96 224 --precisions bf16-mixed --channels-last on \
    --compile off --workers 16 --variants conventional --data-root "$DATA" \
    --out "$OUT/throughput_cuda_16_workers.json" $THROUGHPUT_ARGS \
    || echo "throughput 16 workers: FAILED or cut ($?)"

stage "1d. a step in chunks against one pass: peak memory and time per image (issue 27)"
bounded $(( $(left) - RESERVE - PRETRAIN_MIN < 60 ? $(left) - RESERVE - PRETRAIN_MIN : 60 )) \
    python3 benchmarks/chunked.py --device "$DEVICE" --batches 256 1024 4096 --chunk 256 \
    --steps 2 --out "$OUT/chunked_cuda.json" $CHUNKED_ARGS || echo "chunked: FAILED or cut ($?)"

stage "1e. the ResNet paper's small networks on cuda: 20 steps each, chunked, option A and B (issue 35)"
for run in "r20w4 encoder.width=4" "r56b encoder.shortcut=B trainer.chunk_size=128"; do
    name=${run%% *} depth=${name:1:2}
    # shellcheck disable=SC2086  # the words after the name are overrides
    bounded $(( $(left) - RESERVE - PRETRAIN_MIN < 40 ? $(left) - RESERVE - PRETRAIN_MIN : 40 )) \
        simclr pretrain encoder.name="cifar_resnet$depth" ${run#* } data.root="$DATA" \
        run.out_dir="$OUT/small" run.name="$name" trainer.max_steps=20 \
        trainer.limit_val_batches=0 trainer.progress_bar=false trainer.loggers=[csv] \
        || echo "small network $run: FAILED or cut ($?)"
    cp "$OUT/small/$name/summary.json" "$OUT/small_${name}_summary.json" 2>/dev/null
done
rm -rf "$OUT/small"

stage "1f. four views at 20 px and four small views on cuda, captured views: 20 steps (issue 35)"
bounded $(( $(left) - RESERVE - PRETRAIN_MIN < 40 ? $(left) - RESERVE - PRETRAIN_MIN : 40 )) \
    simclr pretrain augment.views=4 augment.view_size=20 augment.small_views.count=4 \
    data.root="$DATA" run.out_dir="$OUT/views" run.name=views trainer.max_steps=20 \
    trainer.limit_val_batches=0 trainer.progress_bar=false trainer.loggers=[csv] \
    || echo "more views: FAILED or cut ($?)"
cp "$OUT/views/views/summary.json" "$OUT/views_summary.json" 2>/dev/null
rm -rf "$OUT/views"

stage "1g. the online kNN block (linear_eval.WeightedKNNClassifier) on cuda against cpu (issue 36)"
bounded 30 python3 - <<'EOF' || echo "online kNN: FAILED or cut ($?)"
import torch
from linear_eval import WeightedKNNClassifier
from linear_eval.protocols.knn import knn_classify
g = torch.Generator().manual_seed(0)
centres = torch.randn(10, 128, generator=g)
labels = torch.randint(0, 10, (60_000,), generator=g)
features = centres[labels] + 2 * torch.randn(60_000, 128, generator=g)
results = {}
for device in ("cuda", "cpu"):
    knn = WeightedKNNClassifier(10, k=200).to(device)
    for rows in torch.arange(50_000).split(4096):
        knn.update(features[rows].to(device), labels[rows].to(device), gallery=True)
    knn.update(features[50_000:].to(device), labels[50_000:].to(device))
    results[device] = {name: value.item() for name, value in knn.compute().items()}
offline = knn_classify(features[:50_000].numpy(), labels[:50_000].numpy(),
                       features[50_000:].numpy(), labels[50_000:].numpy(), (200,))[200]
print("online kNN top-1/top-5: cuda", results["cuda"], "cpu", results["cpu"],
      "offline (faiss)", {k: offline[k] for k in ("top1", "top5")})
EOF

stage "2. the Fashion-MNIST GPU recipe, as many epochs as fit"
epochs=${EPOCHS:-$(python3 - "$OUT/throughput_cuda" "$(($(left) - RESERVE - 30))" <<'EOF'
import json, sys
seconds = int(sys.argv[2])  # 30 s kept for start-up: imports, data, the first steps' tuning
try:
    try:
        rows = json.load(open(sys.argv[1] + ".json"))["results"]
    except OSError:  # cut by its timeout: what it measured so far
        rows = json.load(open(sys.argv[1] + ".partial.json"))["results"]
    rate = max(r["project"]["views_per_second"] for r in rows
               if r["setting"]["precision"] == "bf16-mixed" and "project" in r)
except Exception:
    rate = 20_000.0  # no measurement: a guess on the low side for a current GPU
# an epoch is 2 x 60,000 views; half the measured rate covers epoch ends, checkpoints, the probe
print(max(5, min(200, int(seconds * rate * 0.5 / 120_000))))
EOF
)}
warmup=$((epochs / 20 > 1 ? epochs / 20 : 1))  # the recipe's 10 of 200 epochs, scaled
echo "epochs $epochs, warm-up $warmup"
run_start=$(date +%s)
bounded $(($(left) - RESERVE + 30)) simclr pretrain --config fashion_mnist \
    data.root="$DATA" run.out_dir="$OUT/runs" run.name=gpu_recipe trainer.max_epochs="$epochs" \
    optimizer.warmup_epochs="$warmup" trainer.val_every_n_epochs="$epochs" \
    trainer.checkpoint_every_n_epochs="$epochs" trainer.progress_bar=false $PRETRAIN_ARGS \
    || echo "pretrain: FAILED or cut ($?)"
echo "pretraining wall seconds: $(($(date +%s) - run_start))"

stage "3. kNN and linear probe on the recipe's encoder"
bounded $(($(left) - 10)) simclr eval --checkpoint "$OUT/runs/gpu_recipe" all \
    baselines.random_init=false baselines.raw_pixels=false linear.threads=16 \
    features.progress_bar=false || echo "eval: FAILED or cut ($?)"
for file in eval.json summary.json config.yaml; do
    cp "$OUT/runs/gpu_recipe/$file" "$OUT/recipe_$file" 2>/dev/null
done
cp "$OUT"/runs/gpu_recipe/csv/*/metrics.csv "$OUT/recipe_metrics.csv" 2>/dev/null
rm -rf "$OUT/runs"  # checkpoints and features stay on the machine

stage "done"
ls -la "$OUT"
