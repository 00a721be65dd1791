"""dp_accounting's PLD accountant (Poisson-subsampled Gaussian, add/remove neighbours, defaults)
on a grid, for Triad's PLD accountant tests.

usage: dp_accounting_pld.py GRID.json
GRID.json: {"epsilon": [[q, sigma, steps, delta], ...]}
Prints {"epsilon": [...]}.
"""
import json
import sys

from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant


def eps(q, sigma, steps, delta):
    acc = pld_privacy_accountant.PLDAccountant()
    event = dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma))
    acc.compose(event, int(steps))
    return acc.get_epsilon(delta)


grid = json.load(open(sys.argv[1]))
print(json.dumps({"epsilon": [eps(*g) for g in grid["epsilon"]]}))
