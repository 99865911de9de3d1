#!/bin/bash
# A ticketlab sweep as a Slurm job array: every array task trains its shard of the grid, round-robin, one GPU each.
#
#   sbatch scripts/slurm-sweep.sh
#
# The grid below has 4 densities x 3 seeds = 12 runs; with --array=1-4 each task trains 3 of them. Task I of N
# trains the jobs whose index is I-1 modulo N. Result files are named by the job's index in the whole grid
# (results/run-0007-density=0.1_seed=1.json), so shards never collide and a re-submitted task writes the same names.
# When every task has finished, merge the runs into one table (mean ± std over seeds, per density):
#
#   ticketlab collect results/
#
#SBATCH --job-name=ticketlab-sweep
#SBATCH --array=1-4
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out

set -euo pipefail

# The shard count is the array's size; keep --array above and this in step if you edit one.
N=${SLURM_ARRAY_TASK_COUNT:-4}

mkdir -p results logs
ticketlab sweep \
    --set dataset=cifar10:"$HOME/data/cifar-10-binary.tar.gz" \
    --set model=resnet20 \
    --set epochs=160 \
    --grid density=0.05,0.1,0.2,0.5 \
    --grid seed=0,1,2 \
    --backend wgpu \
    --shard "${SLURM_ARRAY_TASK_ID}/${N}" \
    --out results/
