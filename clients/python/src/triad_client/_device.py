"""Devices by name, as `triad` spells them on the command line."""
from __future__ import annotations

from typing import Literal

from .v1 import common_pb2

DeviceName = Literal["auto", "cpu", "cuda"]

_DEVICES = {"auto": common_pb2.DEVICE_UNSPECIFIED, "cpu": common_pb2.DEVICE_CPU, "cuda": common_pb2.DEVICE_CUDA}


def device_value(name: DeviceName) -> "common_pb2.Device":
    """The proto enum of a device name; `auto`: the service picks (CUDA when present)."""
    try:
        return _DEVICES[name]
    except KeyError:
        raise ValueError(f"device {name!r}: expected one of {', '.join(_DEVICES)}") from None
