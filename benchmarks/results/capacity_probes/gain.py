import sys, runpy
r = float(sys.argv[1]); sys.argv = ["benchmarks/fidelity.py"] + sys.argv[2:]
sys.path.insert(0, "python")
import mssvae.module as M
M.UnitRows.forward = lambda self, V: r * V / V.norm(dim=1, keepdim=True).clamp_min(1e-12)
runpy.run_path("benchmarks/fidelity.py", run_name="__main__")
