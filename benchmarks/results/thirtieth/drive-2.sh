#!/bin/bash
# A = 1901f1b, D = the commit with the filters (HEAD); alternated, each run a process of its own
cd /work/main/benchmarks
PY=../.venv/bin/python
OUT=results/thirtieth
declare -A T=([A]=/tmp/base30a/base [D]=/tmp/tb30/D/base)
for i in 3 4; do for v in A D; do
  echo "$(date +%T) broker $v$i load $(cut -d' ' -f1 /proc/loadavg)"
  PYTHONPATH=${T[$v]} OMP_NUM_THREADS=1 $PY broker.py --modes steady --throughput-only --events 30000 --workers 2 --reps 1 --max-backlog 64 --out $OUT/broker-steady-$v$i.json > /tmp/tb30/broker-$v$i.log 2>&1
done; done
for i in 4 5; do for v in A D; do
  echo "$(date +%T) ingest 100k $v$i load $(cut -d' ' -f1 /proc/loadavg)"
  PYTHONPATH=${T[$v]} OMP_NUM_THREADS=1 $PY ingest.py --sizes 100000 --reps 1 --variants together --no-stages --out $OUT/ingest-100k-$v$i.json > /tmp/tb30/ingest-100k-$v$i.log 2>&1
done; done
echo "$(date +%T) done"
