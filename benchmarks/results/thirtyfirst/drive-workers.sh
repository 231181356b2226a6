#!/bin/bash
# The broker with 1, 2 and 4 workers, steady and drained, alternated (broker.py's own order:
# rep, mode, workers), the final code of the thirty-first session; each run 8 × 30,000 events
cd /work/main/benchmarks
echo "$(date +%T) start load $(cut -d' ' -f1 /proc/loadavg)"
OMP_NUM_THREADS=1 ../.venv/bin/python broker.py --modes steady drain --workers 1 2 4 --reps 2 --throughput-only \
  --events 30000 --max-backlog 64 --out results/thirtyfirst/broker-workers.json
echo "$(date +%T) done load $(cut -d' ' -f1 /proc/loadavg)"
