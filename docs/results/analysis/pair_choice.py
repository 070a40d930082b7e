# Can the card's pair choice beat "even" ({0, L-1}) without training? Two readings of the same 40-step cards,
# chosen on the dev studies and judged on the held-out ones (no training; the cards' slopes and curvature and the
# trained subsets are read from the committed results.json files):
#   1. the level shrink (how far each layer's gain alone stays from the layers' mean) and the redundancy, for the
#      pair choice only;
#   2. a cost tie-break: among pairs predicted within eps of the best, the one whose lowest layer is highest
#      (the shortest backward), as a planner could prefer;
#   3. (session 14) a saturating reading of each layer's gain alone, g -> m (1 - exp(-g / (theta m))) / (1 - exp(-1 / theta))
#      with m the layers' mean: a layer whose first step is slow stays behind while fast layers level off at a common
#      ceiling, which is the shape of the 40-step singles (flat but for the lowest layers).
# The 300-step studies (stories260K: three tasks x three training seeds; stories12L: tiny Shakespeare) are scored too.
# Usage (numpy): python3 docs/results/analysis/pair_choice.py   (from the repository root)
import json, os
import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..")
DEV = {"stories260K": ["stories260k-moment-cal16"], "stories12L": ["stories12L-moment-cal16"]}
HELD_OUT = {"stories260K": ["stories260k-heldout-cal16", "stories260k-heldout2-cal16"],
            "stories12L": ["stories12L-heldout-cal16", "stories12L-heldout2-cal16", "stories12L-heldout3-cal16"]}


AT_300_STEPS = {"stories260K": [f"stories260k-300steps{task}{seed}-cal16" for task in ["", "-sst2", "-e2e"] for seed in ["", "-train1", "-train2"]],
                "stories12L": ["stories12L-300steps"]}
# New in session 14, trained after the cost tie-break's 5 % was read off the studies above and its prediction written
# down (regret <= the card's and <= "top"'s on these): held-out tasks at 300 steps. It failed there (GSM8K's best pair is {0, 4}).
# New in session 15, trained after the 1 % tie-break's prediction was written down (docs/results/README.md, session 15):
# study seeds 3-5 (new calibration data and training order) on tasks already studied with seeds 0-2.
NEW_SEEDS = {"stories260K": ["stories260k-seeds345-cal16"],
             "stories12L": ["stories12L-seeds345-tinyshakespeare-cal16", "stories12L-seeds345-webnlg-cal16"]}
AT_300_STEPS_HELD_OUT = {"stories260K": [f"stories260k-300steps-{task}-cal16" for task in ["dart", "webnlg", "gsm8k"]], "stories12L": ["stories12L-300steps-train1"]}


def set_gain(fs, layers, shrink, redundancy, saturation=None):
    """FunctionSpaceResult.SetGain: level shrink on the slopes, redundancy on the curvature, saturation at the base loss.
    With `saturation` (theta), the saturating reading of the gains alone replaces the level shrink."""
    s0, c = np.array(fs["slopes"], float), np.array(fs["curvature"], float)
    alone = 0.5 * s0 ** 2 / np.diag(c)
    m = alone.mean()
    read = m + shrink * (alone - m) if saturation is None else m * (1 - np.exp(-alone / (saturation * m))) / (1 - np.exp(-1 / saturation))
    slopes = s0 * np.sqrt(np.maximum(read, 0) / alone)
    idx = sorted(layers)
    d = np.sqrt(np.diag(c))
    m = (1 - redundancy) * c + redundancy * np.outer(d, d)
    np.fill_diagonal(m, np.diag(c))
    m = m[np.ix_(idx, idx)] + np.eye(len(idx)) * 1e-6 * np.mean(np.diag(c)[idx])
    g = 0.5 * slopes[idx] @ np.linalg.solve(m, slopes[idx])
    base = fs.get("base_loss")
    return g / (1 + g / base) if base and g > 0 else g


def card_rows(study):
    """(task, card's function-space pass, the trained subsets' rows it is scored on) per task and calibration seed."""
    r = json.load(open(os.path.join(ROOT, study, "results.json")))
    seeds = r["config"]["seeds"]
    for i, card in enumerate(r["cards"]):
        task, seed = card["reference"], seeds[i % len(seeds)]
        rows = [x for x in r["subsets"] if x["task"] == task and x["seed"] == seed] or [x for x in r["subsets"] if x["task"] == task]
        yield task, card["function_space"], rows


def runs(study):
    """(task, card's function-space pass, trained gains by layer set) per task and calibration seed."""
    for task, fs, rows in card_rows(study):
        yield task, fs, {tuple(x["layers"]): x["gain"] for x in rows}


def mean_regret(studies, choose):
    """Mean over tasks (each the mean over its seeds) of the best trained pair's gain minus the chosen pair's."""
    if not studies:
        return float("nan")
    by_task = {}
    for study in studies:
        for task, fs, truth in runs(study):
            pairs = [p for p in truth if len(p) == 2]
            by_task.setdefault(task, []).append(max(truth[p] for p in pairs) - truth[choose(fs, pairs)])
    return np.mean([np.mean(v) for v in by_task.values()])


def by_gain(shrink, redundancy, saturation=None):
    return lambda fs, pairs: max(pairs, key=lambda p: set_gain(fs, p, shrink, redundancy, saturation))


def cheapest_near_best(eps):
    def choose(fs, pairs):
        gains = {p: set_gain(fs, p, 0.1, 0.15) for p in pairs}
        near = [p for p in pairs if gains[p] >= (1 - eps) * max(gains.values())]
        return max(near, key=lambda p: (p[0], gains[p]))
    return choose


def even(fs, pairs):
    return (0, len(fs["slopes"]) - 1)


def top(fs, pairs):
    return (len(fs["slopes"]) - 2, len(fs["slopes"]) - 1)


if __name__ == "__main__":
    for label, studies in [("dev", DEV), ("held out", HELD_OUT), ("300 steps", AT_300_STEPS), ("300 steps, held out", AT_300_STEPS_HELD_OUT),
                            ("new seeds 3-5 (session 15)", NEW_SEEDS)]:
        print(f"== {label}: mean pair regret (nats), stories260K / stories12L")
        print(f"  even                          {mean_regret(studies['stories260K'], even):.4f} / {mean_regret(studies['stories12L'], even):.4f}")
        print(f"  top                           {mean_regret(studies['stories260K'], top):.4f} / {mean_regret(studies['stories12L'], top):.4f}")
        for shrink, redundancy in [(0.1, 0.15), (0.3, 0.15), (0.5, 0.15), (0.7, 0.15), (1.0, 0.15), (1.0, 0.0)]:
            print(f"  shrink {shrink:.1f}, redundancy {redundancy:.2f}  {mean_regret(studies['stories260K'], by_gain(shrink, redundancy)):.4f} / "
                  f"{mean_regret(studies['stories12L'], by_gain(shrink, redundancy)):.4f}" + ("   (the card)" if (shrink, redundancy) == (0.1, 0.15) else ""))
        for eps in [0.01, 0.02, 0.05, 0.10]:
            print(f"  cheapest within {eps:.0%} of best   {mean_regret(studies['stories260K'], cheapest_near_best(eps)):.4f} / "
                  f"{mean_regret(studies['stories12L'], cheapest_near_best(eps)):.4f}")
        for theta in [0.1, 0.2, 0.3, 0.5, 1.0]:
            print(f"  saturating, theta {theta:.1f}        {mean_regret(studies['stories260K'], by_gain(0, 0.15, theta)):.4f} / "
                  f"{mean_regret(studies['stories12L'], by_gain(0, 0.15, theta)):.4f}")
