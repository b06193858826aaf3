"""The module table: every module the runner knows, by plan, with its variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Module:
    plan: str
    name: str
    variant: str
    fn: Callable
    waits: float = 0.0  # seconds the module sleeps, as the suite does (scheduling hint)


MODULES: list[Module] = []


def module(plan: str, name: str, variant: str = "client_secret_basic", waits: float = 0.0):
    def deco(fn):
        MODULES.append(Module(plan, name, variant, fn, waits))
        return fn
    return deco
