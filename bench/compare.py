#!/usr/bin/env python3
"""ticketlab's CPU training step against PyTorch's on the same settings, back to back, as a ratio table.

For each model, batch size and thread count: PyTorch (bench/pytorch_step.py, dense and masked) and then
`ticketlab bench --backend cpu` (dense and masked, interleaved rounds) at the same width, batch size, density
(ERK, static mask), thread count and step counts; then one markdown table of images/s and ticketlab/PyTorch ratios.

    python3 bench/compare.py --python /work/venv/bin/python
    TICKETLAB_TORCH_PYTHON=/work/venv/bin/python python3 bench/compare.py --models conv4 --batch-sizes 128 --threads 2

Only the standard library here; PyTorch runs in the interpreter given by --python or $TICKETLAB_TORCH_PYTHON (a
virtual environment outside the repository: `python3 -m venv /work/venv && /work/venv/bin/pip install torch numpy`).
Threads: PyTorch through torch.set_num_threads, ticketlab through RAYON_NUM_THREADS; both processes are pinned to
the first N cores with taskset where it exists. Timings on a shared machine move with its load: the table says what
the load average was, each pair runs back to back so both see about the same, and pairs repeat (--repeats) with the
table showing medians.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def model_width(model: str, width: str | None) -> str:
    """ticketlab's default width per model (bench's default), unless given."""
    if width:
        return width
    return {"conv4": "0.5", "airbench": "0.5"}.get(model, "1")


def pinned(threads: int, cmd: list[str]) -> list[str]:
    if shutil.which("taskset") and threads <= (os.cpu_count() or 1):
        return ["taskset", "-c", ",".join(str(i) for i in range(threads))] + cmd
    return cmd


def run(cmd: list[str], env: dict | None = None) -> str:
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return out.stdout


def pytorch(python: str, model: str, width: str, batch: int, density: float, threads: int, steps: int, rounds: int):
    cmd = [python, str(ROOT / "bench" / "pytorch_step.py"), "--model", model, "--width", width,
           "--batch-size", str(batch), "--density", str(density), "--threads", str(threads),
           "--steps", str(steps), "--rounds", str(rounds)]
    out = run(pinned(threads, cmd))
    m = re.search(r"images/s=([\d.]+) images/CPU-s=([\d.]+)", out)
    if not m:
        sys.exit(f"unexpected PyTorch output: {out}")
    return float(m.group(1)), float(m.group(2))


def ticketlab(exe: str, model: str, width: str, batch: int, density: float, threads: int, steps: int, rounds: int):
    cmd = [exe, "bench", "--backend", "cpu", "--model", model, "--width", width, "--batch-size", str(batch),
           "--density", str(density), "--steps", str(steps), "--rounds", str(rounds), "--updates", "0",
           "--sparsities", "none"]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = run(pinned(threads, cmd), env)
    for line in out.splitlines():
        cols = line.split()
        # model width backend 1st-step 1st-masked dense-img/s masked-img/s ratio (per round …) CPU-ratio dense-img/CPU-s
        if len(cols) > 8 and cols[0] == model and cols[2] == "cpu":
            dense_cpu, cpu_ratio = float(cols[-1]), float(cols[-2].rstrip("×"))
            return float(cols[5]), float(cols[6]), dense_cpu, dense_cpu / cpu_ratio
    sys.exit(f"unexpected ticketlab bench output:\n{out}")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=os.environ.get("TICKETLAB_TORCH_PYTHON"),
                   help="Python with torch installed [default: $TICKETLAB_TORCH_PYTHON]")
    p.add_argument("--ticketlab", default=str(ROOT / "target" / "release" / "ticketlab"),
                   help="the ticketlab binary (build it with cargo build --release)")
    p.add_argument("--models", default="conv4", help="comma-separated")
    p.add_argument("--width", help="channel-width multiplier [default: ticketlab's default per model]")
    p.add_argument("--batch-sizes", default="64,128")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--density", type=float, default=0.1, help="density of the masked variant (ERK)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2,
                   help="run each PyTorch/ticketlab pair this many times, alternating; the table shows medians")
    args = p.parse_args()
    if not args.python:
        sys.exit("give the Python that has torch: --python PATH or TICKETLAB_TORCH_PYTHON=PATH")
    if not Path(args.ticketlab).exists():
        sys.exit(f"no ticketlab binary at {args.ticketlab} (cargo build --release)")

    rows = []
    load_before = load()
    for model in args.models.split(","):
        width = model_width(model, args.width)
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            for threads in [int(t) for t in args.threads.split(",")]:
                common = (model, width, batch)
                run_args = (threads, args.steps, args.rounds)
                runs = []
                for _ in range(max(1, args.repeats)):
                    td, td_cpu = pytorch(args.python, *common, 1.0, *run_args)
                    tm, tm_cpu = pytorch(args.python, *common, args.density, *run_args)
                    od, om, od_cpu, om_cpu = ticketlab(args.ticketlab, *common, args.density, *run_args)
                    runs.append(((td, od, tm, om), (td_cpu, od_cpu, tm_cpu, om_cpu)))
                wall = tuple(statistics.median(r[0][i] for r in runs) for i in range(4))
                cpu = tuple(statistics.median(r[1][i] for r in runs) for i in range(4))
                td, od, tm, om = wall
                rows.append((model, width, batch, threads, wall, cpu))
                print(f"{model} batch {batch} threads {threads}: PyTorch {td:.0f}/{tm:.0f}, "
                      f"ticketlab {od:.0f}/{om:.0f} img/s", file=sys.stderr, flush=True)

    print(f"Training-step throughput ({datetime.date.today()}, {cpu_name()}, {os.cpu_count()} cores; "
          f"masked = density {args.density} ERK; load average {load_before} before, {load()} after)\n")
    for title, pick in [("images/s (wall clock)", 4), ("images per CPU-second (all threads; steadier under load)", 5)]:
        print(f"{title}:\n")
        print("| model | width | batch | threads | PyTorch dense | ticketlab dense | ratio | PyTorch masked "
              "| ticketlab masked | ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            model, width, batch, threads = row[:4]
            td, od, tm, om = row[pick]
            print(f"| {model} | {width} | {batch} | {threads} | {td:.0f} | {od:.0f} | {od / td:.2f}× | {tm:.0f} "
                  f"| {om:.0f} | {om / tm:.2f}× |")
        print()


if __name__ == "__main__":
    main()
