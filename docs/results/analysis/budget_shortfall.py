# The card's gain fractions at a longer budget: each set's shortfall 1 - f scaled by rho, rho fitted on
# the first list of results (stories260K at 300 steps), scored on the second (stories12L at 300 steps).
# Usage (numpy): python3 budget_shortfall.py A/results.json,B/results.json C/results.json  (paths under docs/results)
import json, sys
import numpy as np
def gain(s, m):
    m = m + 1e-6 * np.mean(np.diag(m)) * np.eye(len(s))
    return 0.5 * s @ np.linalg.solve(m, s)
lam, kap = 0.1, 0.15
def rows(path):
    study = json.load(open(path))
    tasks = [t["name"] for t in study["config"]["tasks"]]; seeds = study["config"]["seeds"]
    cards = dict(zip([(t, s) for t in tasks for s in seeds], study["cards"]))
    truth = {}
    for row in study["subsets"]: truth.setdefault((row["task"], row["seed"]), {})[tuple(row["layers"])] = row["gain"]
    out=[]
    for task in tasks:
        for seed in seeds:
            fs = cards[(task, seed)]["function_space"]; s0, M0 = np.array(fs["slopes"]), np.array(fs["curvature"]); L = len(s0)
            L0 = fs.get("base_loss")
            d = np.sqrt(np.diag(M0)); C0 = M0 / np.outer(d, d)
            meas = truth.get((task, seed)) or next(v for k,v in truth.items() if k[0]==task)
            allm = meas[tuple(range(L))]
            C = (1-kap)*C0 + kap*np.ones_like(C0); np.fill_diagonal(C, 1); M = C*np.outer(d,d)
            g1 = 0.5 * s0**2 / np.diag(M); target = g1.mean() + lam * (g1 - g1.mean()); s2 = s0 * np.sqrt(target / g1)
            F = lambda x: x/(1+x/L0)
            ap = F(gain(s2, M))
            out += [(task, seed, x, F(gain(s2[list(x)], M[np.ix_(x, x)])) / ap, meas[x] / allm) for x in meas]
    return out
cal = sum((rows(p) for p in sys.argv[1].split(',')), [])
test = sum((rows(p) for p in sys.argv[2].split(',')), [])
def mae(rs, rho): return np.mean([abs(1-(1-p)*rho - m) for (_,_,_,p,m) in rs])
print('calibration MAE unadjusted %.4f' % mae(cal,1.0))
grid=np.linspace(0.2,1.2,101); best=min(grid,key=lambda r: mae(cal,r))
print('fitted rho %.2f calibration MAE %.4f' % (best, mae(cal,best)))
print('test MAE unadjusted %.4f adjusted %.4f' % (mae(test,1.0), mae(test,best)))
# by set size on test
import collections
by=collections.defaultdict(list)
for r in test: by[len(r[2])].append(r)
for k in sorted(by): print(' size',k,'n',len(by[k]),'unadj %.3f adj %.3f'%(mae(by[k],1.0),mae(by[k],best)), 'mean pred %.3f adj %.3f meas %.3f'%(np.mean([r[3] for r in by[k]]), np.mean([1-(1-r[3])*best for r in by[k]]), np.mean([r[4] for r in by[k]])))
