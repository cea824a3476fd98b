"""The PBMC demo's fit with five starts: which of its programs are stable."""
import sys, time, warnings
sys.path.insert(0, "benchmarks")
from provenance import header
import mssvae
from mssvae.cli.demo import DEMO_EPOCHS, DEMO_SETTINGS
from mssvae.io.example import example_data
from mssvae.model import MSSVAE

print("\n".join(header()), flush=True)
a = example_data()
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    model = MSSVAE("nb", **DEMO_SETTINGS).fit(a, group_key="lineage", epochs=DEMO_EPOCHS, seed=0, starts=5, threads=1,
                                      progress=False)
print(f"5 starts: {time.perf_counter() - t0:.0f} s", flush=True)
print(a.uns["mssvae"]["starts"])
import pandas as pd
pd.set_option("display.width", 200); pd.set_option("display.max_colwidth", 60)
print(model.active_factors().to_string())
