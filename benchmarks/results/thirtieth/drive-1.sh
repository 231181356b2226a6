#!/bin/bash
# A = 1901f1b (before this session), C = ea79395; alternated, each run a process of its own
cd /work/main/benchmarks
PY=../.venv/bin/python
OUT=results/thirtieth
declare -A T=([A]=/tmp/base30a/base [C]=/tmp/tb30/C/base)
for i in 1 2 3; do for v in A C; do
  echo "$(date +%T) ingest 100k $v$i load $(cut -d' ' -f1 /proc/loadavg)"
  PYTHONPATH=${T[$v]} OMP_NUM_THREADS=1 $PY ingest.py --sizes 100000 --reps 1 --variants together --no-stages --out $OUT/ingest-100k-$v$i.json > /tmp/tb30/ingest-100k-$v$i.log 2>&1
done; done
for i in 1 2; do for v in A C; do
  echo "$(date +%T) ingest 300k $v$i load $(cut -d' ' -f1 /proc/loadavg)"
  PYTHONPATH=${T[$v]} OMP_NUM_THREADS=1 $PY ingest.py --sizes 300000 --reps 1 --variants together --no-stages --out $OUT/ingest-300k-$v$i.json > /tmp/tb30/ingest-300k-$v$i.log 2>&1
done; done
for i in 1 2; do for v in A C; do
  echo "$(date +%T) broker $v$i load $(cut -d' ' -f1 /proc/loadavg)"
  PYTHONPATH=${T[$v]} OMP_NUM_THREADS=1 $PY broker.py --modes steady --throughput-only --events 30000 --workers 2 --reps 1 --max-backlog 64 --out $OUT/broker-steady-$v$i.json > /tmp/tb30/broker-$v$i.log 2>&1
done; done
echo "$(date +%T) done"
