"""Sign-in metrics: what the failed-sign-in alert and the dashboards read."""

from prometheus_client import Counter

SIGN_INS = Counter(
    "orderdesk_sign_ins",
    "Sign-in attempts, by method (password, entra) and result (success, failure, locked).",
    ["method", "result"],
)
# Pre-declared so that a rate() over them is 0, not absent, before the first attempt.
for _method in ("password", "entra"):
    for _result in ("success", "failure", "locked"):
        SIGN_INS.labels(method=_method, result=_result)
