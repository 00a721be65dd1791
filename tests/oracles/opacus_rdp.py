"""Opacus's RDP accountant on a grid, for Triad's accountant tests.

usage: opacus_rdp.py GRID.json
GRID.json: {"epsilon": [[q, sigma, steps, delta], ...], "noise": [[target_eps, delta, q, steps], ...]}
Prints {"epsilon": [...], "noise": [...]} (null where Opacus raises).
"""
import json
import sys

from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier


def eps(q, sigma, steps, delta):
    acc = RDPAccountant()
    acc.history = [(sigma, q, steps)]
    return acc.get_epsilon(delta=delta)


def noise(target, delta, q, steps):
    try:
        return get_noise_multiplier(target_epsilon=target, target_delta=delta, sample_rate=q, steps=steps,
                                    accountant="rdp")
    except ValueError:
        return None


grid = json.load(open(sys.argv[1]))
print(json.dumps({"epsilon": [eps(*g) for g in grid["epsilon"]], "noise": [noise(*g) for g in grid["noise"]]}))
