"""The module table: every module the runner knows, by plan, with its variant,
and the plans themselves (which ones the OpenID Foundation certifies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Plan:
    name: str
    certification: bool  # one of the suite's certification plans Kagi targets
    about: str


BASIC = "oidcc-basic-certification-test-plan"
FORM_POST = "oidcc-formpost-basic-certification-test-plan"
CONFIG = "oidcc-config-certification-test-plan"
RP_LOGOUT = "oidcc-rp-initiated-logout-certification-test-plan"
BC_LOGOUT = "oidcc-backchannel-rp-initiated-logout-certification-test-plan"
COMPREHENSIVE = "oidcc-test-plan"
KAGI_VARIANTS = "kagi-variants"
KAGI = "kagi"

# Report order. The last three are not certification plans: their results are
# reported in their own groups and never counted as a certification result.
PLANS: list[Plan] = [
    Plan(BASIC, True, "Basic OP, response_mode=default"),
    Plan(FORM_POST, True, "Form Post OP: the Basic modules with response_mode=form_post"),
    Plan(CONFIG, True, "Config OP"),
    Plan(RP_LOGOUT, True, "RP-Initiated OP"),
    Plan(BC_LOGOUT, True, "Back-Channel OP"),
    Plan(COMPREHENSIVE, False, "comprehensive plan, not certification: client_secret_post and private_key_jwt variants"),
    Plan(KAGI_VARIANTS, False, "suite modules with variants no suite plan has (Kagi's other ID-token algorithms)"),
    Plan(KAGI, False, "Kagi's own kagi-* modules: acr, amr, auth_time and require_acr"),
]
PLAN_BY_NAME = {p.name: p for p in PLANS}


@dataclass
class Module:
    plan: str
    name: str
    variant: str
    fn: Callable
    waits: float = 0.0  # seconds the module sleeps, as the suite does (scheduling hint)
    response_mode: str = "default"  # the suite's ResponseMode variant

    @property
    def certification(self) -> bool:
        return PLAN_BY_NAME[self.plan].certification


MODULES: list[Module] = []


def module(plan: str, name: str, variant: str = "client_secret_basic", waits: float = 0.0, response_mode: str = "default"):
    if plan not in PLAN_BY_NAME:
        raise ValueError(f"unknown plan {plan!r}")

    def deco(fn):
        MODULES.append(Module(plan, name, variant, fn, waits, response_mode))
        return fn
    return deco
