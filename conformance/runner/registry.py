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
    group: str = ""  # the report group; by default the certification flag decides it


BASIC = "oidcc-basic-certification-test-plan"
FORM_POST = "oidcc-formpost-basic-certification-test-plan"
CONFIG = "oidcc-config-certification-test-plan"
RP_LOGOUT = "oidcc-rp-initiated-logout-certification-test-plan"
BC_LOGOUT = "oidcc-backchannel-rp-initiated-logout-certification-test-plan"
COMPREHENSIVE = "oidcc-test-plan"
FAPI2 = "fapi2-security-profile-final-test-plan"
KAGI_VARIANTS = "kagi-variants"
KAGI = "kagi"

# Report order. The OIDC certification plans come first; the FAPI 2.0 plan is
# a certification plan of its own, counted apart from them; the last three are
# not certification plans: their results are reported in their own groups and
# never counted as a certification result.
PLANS: list[Plan] = [
    Plan(BASIC, True, "Basic OP, response_mode=default"),
    Plan(FORM_POST, True, "Form Post OP: the Basic modules with response_mode=form_post"),
    Plan(CONFIG, True, "Config OP"),
    Plan(RP_LOGOUT, True, "RP-Initiated OP"),
    Plan(BC_LOGOUT, True, "Back-Channel OP"),
    Plan(FAPI2, True, "FAPI 2.0 Security Profile (final): private_key_jwt + DPoP + openid_connect, plain_fapi", group="fapi2"),
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
