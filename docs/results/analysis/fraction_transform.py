"""Offline check (session 6): would a power transform of the function-space gain fraction fix its MAE?

Reads a study's results.json (cards with their function-space slopes and curvature, and every trained subset),
recomputes each subset's predicted fraction of the all-layer gain, 1/2 s_S' M_S^-1 s_S over the same for all layers,
and prints the MAE of fraction**gamma against the measured fraction, and the predicted best pair's regret, per task.
Usage: python3 fraction_transform.py docs/results/stories12L/results.json docs/results/stories260k/results.json
(needs numpy; Debian's python3-numpy).
"""
import json
import sys

import numpy as np


def set_gain(slopes, curvature, layers, ridge=1e-6):
    index = list(layers)
    s = slopes[index]
    m = curvature[np.ix_(index, index)]
    m = m + ridge * np.mean(np.diag(m)) * np.eye(len(index))
    return 0.5 * s @ np.linalg.solve(m, s)


def evaluate(path, gamma):
    study = json.load(open(path))
    tasks = [t["name"] for t in study["config"]["tasks"]]
    seeds = study["config"]["seeds"]
    cards = dict(zip([(t, s) for t in tasks for s in seeds], study["cards"]))
    truth = {}
    for row in study["subsets"]:
        truth.setdefault((row["task"], row["seed"]), {})[tuple(row["layers"])] = row["gain"]
    results = {}
    for task in tasks:
        errors, regrets = [], []
        for seed in seeds:
            fs = cards[(task, seed)]["function_space"]
            slopes, curvature = np.array(fs["slopes"]), np.array(fs["curvature"])
            layers = len(slopes)
            measured = truth.get((task, seed)) or truth[(task, 0)]
            all_measured = measured[tuple(range(layers))]
            all_predicted = set_gain(slopes, curvature, range(layers))
            errors.append(np.mean([abs(max(set_gain(slopes, curvature, s) / all_predicted, 0) ** gamma - g / all_measured)
                                   for s, g in measured.items()]))
            pairs = [s for s in measured if len(s) == 2]
            pick = max(pairs, key=lambda s: set_gain(slopes, curvature, s))
            regrets.append(max(measured[s] for s in pairs) - measured[pick])
        results[task] = (np.mean(errors), np.mean(regrets))
    return results


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(path)
        for gamma in [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]:
            row = evaluate(path, gamma)
            print(f"  gamma {gamma}: " + "  ".join(f"{t} MAE {m:.3f}" for t, (m, _) in row.items()))
