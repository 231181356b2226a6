#!/bin/bash
# Third round: linger 0.25 s against 0, 1 worker, alternated; then latency with 0.25
cd /work/main/benchmarks
PY=../.venv/bin/python
OUT=results/thirtyfirst
for rep in 4 5; do for linger in 0.25 0; do
  echo "$(date +%T) workers 1 rep $rep linger $linger load $(cut -d' ' -f1 /proc/loadavg)"
  OMP_NUM_THREADS=1 $PY broker.py --modes steady --throughput-only --events 30000 --workers 1 --reps 1 --max-backlog 64 \
    --writer-linger $linger --out $OUT/linger-$linger-w1-r$rep.json > $OUT/linger-$linger-w1-r$rep.log 2>&1
  grep -E "^steady workers|CPU us" $OUT/linger-$linger-w1-r$rep.log | head -2
done; done
echo "$(date +%T) latency linger 0.25 load $(cut -d' ' -f1 /proc/loadavg)"
OMP_NUM_THREADS=1 $PY broker.py --latency-only --latency-workers 2 --writer-linger 0.25 \
  --out $OUT/latency-linger-0.25.json > $OUT/latency-linger-0.25.log 2>&1
grep -iE "p50|p99" $OUT/latency-linger-0.25.log | head -4
echo "$(date +%T) done"
