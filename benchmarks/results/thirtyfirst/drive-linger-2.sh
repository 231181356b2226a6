#!/bin/bash
# Second round: 1 and 4 workers, linger 0 against 0.5 s alternated; then the latency runs
# (5,000 events/s, 2 workers, 2,500 events a capture process) with each
cd /work/main/benchmarks
PY=../.venv/bin/python
OUT=results/thirtyfirst
for run in "1 2" "4 1" "1 3" "4 2"; do set -- $run; for linger in 0 0.5; do
  echo "$(date +%T) workers $1 rep $2 linger $linger load $(cut -d' ' -f1 /proc/loadavg)"
  OMP_NUM_THREADS=1 $PY broker.py --modes steady --throughput-only --events 30000 --workers $1 --reps 1 --max-backlog 64 \
    --writer-linger $linger --out $OUT/linger-$linger-w$1-r$2.json > $OUT/linger-$linger-w$1-r$2.log 2>&1
  grep -E "^steady workers|CPU us" $OUT/linger-$linger-w$1-r$2.log | head -2
done; done
for linger in 0 0.5; do
  echo "$(date +%T) latency linger $linger load $(cut -d' ' -f1 /proc/loadavg)"
  OMP_NUM_THREADS=1 $PY broker.py --latency-only --latency-workers 2 --writer-linger $linger \
    --out $OUT/latency-linger-$linger.json > $OUT/latency-linger-$linger.log 2>&1
  grep -iE "p50|p99" $OUT/latency-linger-$linger.log | head -4
done
echo "$(date +%T) done"
