#!/usr/bin/env bash
# gpu/check.sh: on one CUDA GPU (an H200 in issue 7), in at most 8 minutes: build with CUDA, run every
# GPU test (ctest -L gpu: conversions, probes, GEMMs, analysis kernels vs the CPU engine), `fpscope validate
# --target gpu` for every format, the tensor-core probes, the cuBLASLt replay of the bundled dump's GEMMs
# (`fpscope gemm --device gpu`) and the GPU benchmarks (GEMMs, analysis kernels),
# then print a short table last; also writes $OUT/RESULTS-fragment.md for gpu/RESULTS.md.
#   gpu/check.sh                 # BUILD=build-gpucheck OUT=gpu-check-out JOBS=$(nproc)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpucheck}
OUT=${OUT:-gpu-check-out}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
step() { echo "== [$(elapsed) s] $*"; }

step "configure + build (CUDA on) in $BUILD"
if ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFPSCOPE_CUDA=ON -DFPSCOPE_PYTHON=OFF -DFPSCOPE_BENCH=OFF \
     -DPython3_EXECUTABLE="${PYTHON:-/usr/bin/python3}" > "$OUT/configure.log" 2>&1; then
  tail -30 "$OUT/configure.log"; echo "check.sh: configure failed"; exit 1
fi
if grep -q "nvcc not found" "$OUT/configure.log"; then echo "check.sh: nvcc not found; nothing to check"; exit 1; fi
if ! timeout 300 cmake --build "$BUILD" -j "$JOBS" --target fpscope test_fpscope_gpu test_fpscope_gpu_device test_gpu_analysis test_gpu_analysis_device \
     test_gemm_replay test_gemm_replay_device \
     > "$OUT/build.log" 2>&1; then
  grep -E "error|Error" "$OUT/build.log" | head -30; echo "check.sh: build failed"; exit 1
fi
FPSCOPE="$BUILD/cli/fpscope"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 || true; } > "$OUT/device.txt"
date -u +%Y-%m-%dT%H:%MZ > "$OUT/date.txt"

step "ctest -L gpu"
(cd "$BUILD" && timeout 240 ctest -L gpu --output-on-failure) > "$OUT/ctest_gpu.log" 2>&1; ctest_rc=$?
step "fpscope validate --target gpu (every available format, all 2^32 inputs each)"
timeout 120 "$FPSCOPE" validate --target gpu --allow nan-encoding --json "$OUT/validate_gpu.json" \
  > "$OUT/validate_gpu.txt" 2>&1; validate_rc=$?
step "fpscope probe-tensor-cores --tiles 100000"
timeout 120 "$FPSCOPE" probe-tensor-cores --tiles 100000 > "$OUT/probes.txt" 2>&1; probe_rc=$?
step "fpscope gemm --device gpu (tiny-gpt, e4m3/e4m3, tensor: cuBLASLt vs the CPU models)"
timeout 60 "$FPSCOPE" gemm --device gpu --formats e4m3/e4m3 --recipes tensor --threads 0 \
  --json "$OUT/gemm_gpu.json" > "$OUT/gemm_gpu.txt" 2>&1; gemm_rc=$?
step "fpscope gpu-benchmark (8192^3 GEMMs, analysis kernels on 2^28 elements, copy bandwidth)"
timeout 120 "$FPSCOPE" gpu-benchmark > "$OUT/benchmark.txt" 2>&1; bench_rc=$?

{
  echo "## GPU check $(cat "$OUT/date.txt") on $(head -1 "$OUT/device.txt")"
  echo
  echo "Command: \`gpu/check.sh\` (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)), $(elapsed) s in all."
  echo
  echo "### ctest -L gpu (exit $ctest_rc)"
  echo '```'; grep -E "tests passed|Skipped|Failed|\*\*\*" "$OUT/ctest_gpu.log" | head -20; echo '```'
  echo "### fpscope validate --target gpu --allow nan-encoding (exit $validate_rc)"
  echo '```'; grep -vE "^    input" "$OUT/validate_gpu.txt"; echo '```'
  echo "### fpscope probe-tensor-cores --tiles 100000 (exit $probe_rc)"
  echo '```'; cat "$OUT/probes.txt"; echo '```'
  echo "### fpscope gemm --device gpu --formats e4m3/e4m3 --recipes tensor (exit $gemm_rc)"
  echo '```'; cat "$OUT/gemm_gpu.txt"; echo '```'
  echo "### fpscope gpu-benchmark (exit $bench_rc)"
  echo '```'; cat "$OUT/benchmark.txt"; echo '```'
} > "$OUT/RESULTS-fragment.md"

step "summary (full logs and RESULTS-fragment.md in $OUT/)"
printf '%-34s %s\n' "check" "exit status / result"
printf '%-34s %s\n' "ctest -L gpu" "$ctest_rc $(grep -E 'tests passed' "$OUT/ctest_gpu.log" | head -1)"
printf '%-34s %s\n' "validate --target gpu" "$validate_rc $(grep -E '^result:' "$OUT/validate_gpu.txt")"
grep -E '^(cvt|__float2)' "$OUT/validate_gpu.txt" | awk '{printf "  %-32s mismatches %s outside --allow %s, %s s\n", $1, $(NF-2), $(NF-1), $NF}'
printf '%-34s %s\n' "probe-tensor-cores" "$probe_rc"
grep -E '^(mma|wgmma)' "$OUT/probes.txt" | sed 's/^/  /'
printf '%-34s %s\n' "gemm --device gpu (tiny-gpt)" "$gemm_rc"
# Per device variant: outputs bit-identical to the matching CPU model, summed over the dump's GEMMs.
grep -E '^ +agreement: ' "$OUT/gemm_gpu.txt" | sed -E 's/^ +agreement: //' |
  awk '{split($0, p, ": "); split(p[2], c, "[/ ]"); key = p[1]; same[key] += c[1]; all[key] += c[2];
        m = $0; sub(/.*max rel diff /, "", m); if (m + 0 > worst[key] + 0 || m == "inf") worst[key] = m}
       END {for (k in same) printf "  %-58s %d/%d bit-identical (%.2f%%), max rel diff %s\n", k, same[k], all[k],
            all[k] ? 100 * same[k] / all[k] : 0, worst[k]}' | sort
printf '%-34s %s\n' "gpu-benchmark" "$bench_rc"
grep -E '^device copy bandwidth|cublasLt' "$OUT/benchmark.txt" | sed 's/^/  /'
grep -E '^analysis ' "$OUT/benchmark.txt" | sed -E 's/^analysis ([^:]*):.*, ([0-9]+ GB\/s input = [0-9.]+% of copy bandwidth \(target [^)]*\)).*/  analysis \1: \2/'
[ $ctest_rc -eq 0 ] && [ $validate_rc -eq 0 ] && [ $probe_rc -eq 0 ] && [ $gemm_rc -eq 0 ] && [ $bench_rc -eq 0 ]
