# Would a safety margin make the cost plan keep its target? For every 300-step study's cards, the plan "cheapest
# trained set (by its measured step time) whose predicted fraction at 300 steps is >= target + margin" is scored by
# the measured fraction of the all-layer gain it keeps. Dev: the 300-step studies the budget exponent and the pair
# rules were read on; held out: stories260K DART, WebNLG, GSM8K (session 14). No training; predicted fractions are
# GainModel's (pair_choice.set_gain with the card's constants, each shortfall x (300/40)^-0.16; they match the
# harness's card-cost predictions to the printed digit).
# Usage (numpy): python3 docs/results/analysis/cost_margin.py   (from the repository root)
import os
import sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pair_choice  # noqa: E402  (beside this script; its own report runs only as a script)
from pair_choice import card_rows, set_gain  # noqa: E402

SCALE = (300 / 40) ** -0.16
DEV = pair_choice.AT_300_STEPS["stories260K"] + pair_choice.AT_300_STEPS["stories12L"]
HELD_OUT = pair_choice.AT_300_STEPS_HELD_OUT["stories260K"]


def cards(study):
    """(trained gains, measured step seconds, predicted fractions at 300 steps, all layers) per card."""
    for _, fs, rows in card_rows(study):
        full = tuple(range(len(fs["slopes"])))
        gains = {tuple(x["layers"]): x["gain"] for x in rows}
        seconds = {tuple(x["layers"]): x["step_seconds"] for x in rows}
        whole = set_gain(fs, full, fs["level_shrink"], fs["redundancy"])
        predicted = {k: 1 - (1 - set_gain(fs, k, fs["level_shrink"], fs["redundancy"]) / whole) * SCALE for k in gains}
        yield gains, seconds, predicted, full


for target in [0.9, 0.95]:
    for label, studies in [("dev", DEV), ("held out", HELD_OUT)]:
        for margin in [0, 0.02, 0.04, 0.06]:
            kept = []
            for study in studies:
                for gains, seconds, predicted, full in cards(study):
                    ok = [k for k in gains if k != full and predicted[k] >= target + margin]
                    chosen = min(ok, key=lambda k: (seconds[k], len(k))) if ok else full
                    kept.append((gains[chosen] / gains[full], seconds[chosen] / seconds[full]))
            a = np.array(kept)
            print(f"target {target:.2f}, {label:8}, margin {margin:.2f}: keeps {a[:, 0].mean():.3f} of the gain (least {a[:, 0].min():.3f}), "
                  f"reaches the target in {np.mean(a[:, 0] >= target - 1e-9):.0%} of {len(a)} plans, step time {a[:, 1].mean():.2f} of all layers")
