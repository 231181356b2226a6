#!/bin/bash
# The writer's linger: 0 (as before) against 0.5 s, the same tree, alternated; 2 workers twice, 1 worker once
cd /work/main/benchmarks
PY=../.venv/bin/python
OUT=results/thirtyfirst
for run in "2 1" "2 2" "1 1"; do set -- $run; for linger in 0 0.5; do
  echo "$(date +%T) workers $1 rep $2 linger $linger load $(cut -d' ' -f1 /proc/loadavg)"
  OMP_NUM_THREADS=1 $PY broker.py --modes steady --throughput-only --events 30000 --workers $1 --reps 1 --max-backlog 64 \
    --writer-linger $linger --out $OUT/linger-$linger-w$1-r$2.json > $OUT/linger-$linger-w$1-r$2.log 2>&1
  grep -E "^steady workers|CPU us" $OUT/linger-$linger-w$1-r$2.log | head -2
done; done
echo "$(date +%T) done"
