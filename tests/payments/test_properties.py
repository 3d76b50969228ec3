"""Property-based: random sequences of pay, scan, confirm, cancel, refund and clock advances keep the
invariants — refunds never exceed the payment, money is conserved, statuses move only along the
declared edges, every SUCCESS payment with a notify URL has a notification queued."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from emulator.app import wire
from emulator.errors import ControlError, GatewayError
from emulator.notifications.models import Notification
from emulator.payments.models import TRANSITIONS, Payment, PaymentStatus
from emulator.payments.service import PayCommand
from emulator.refunds.models import Refund
from emulator.refunds.service import RefundCommand
from emulator.runtime import Runtime, build_runtime
from emulator.sandbox.access import Merchant
from emulator.sandbox.models import Balance
from emulator.settings import Settings
from emulator.wallet.service import issue_payment_code

BEHAVIOURS = ["normal", "insufficient_balance", "needs_verification", "frozen", "risk_reject"]
AMOUNTS = st.sampled_from([1, 99, 450, 1000, 25_000, 9901])

ops = st.one_of(
    st.tuples(
        st.just("pay"),
        st.sampled_from(["PaymentCode", "OrderCode", "EntryCode"]),
        st.sampled_from(BEHAVIOURS),
        AMOUNTS,
        st.booleans(),
    ),
    st.tuples(st.just("scan"), st.integers(0, 20), st.sampled_from(BEHAVIOURS)),
    st.tuples(st.just("confirm"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 30_000)),
    st.tuples(st.just("advance"), st.sampled_from([1, 30, 61, 200, 3600, 86_400])),
)


def _money(rt: Runtime) -> dict[str, int]:
    totals: dict[str, int] = {}
    with rt.db.read() as s:
        for b in s.exec(select(Balance)).all():
            totals[b.currency] = totals.get(b.currency, 0) + b.amount
    return totals


def _statuses(rt: Runtime) -> dict[str, str]:
    with rt.db.read() as s:
        return {p.payment_id: p.status for p in s.exec(select(Payment)).all()}


def _step(rt: Runtime, merchant: Merchant, op: tuple[Any, ...], made: list[str], n: int) -> None:
    buyers = {b.behaviour: b.login_id for b in rt.definition.buyers}
    kind = op[0]
    try:
        if kind == "pay":
            _, scenario, behaviour, amount, notify = op
            code = None
            if scenario == "PaymentCode":
                with rt.db.write() as s:
                    code = issue_payment_code(
                        s, login_id=buyers[behaviour], now=rt.clock.now(), ttl_seconds=60
                    ).code
            cmd = PayCommand(
                payment_request_id=f"P{n}",
                scenario=scenario,
                currency="USD",
                amount=amount,
                payment_method_type="CONNECT_WALLET",
                payment_method_id=code,
                notify_url="http://127.0.0.1:9/notify" if notify else None,
            )
            made.append(rt.payments.pay(merchant, cmd).payment.payment_id)
        elif kind == "scan" and made:
            p = _payment(rt, made[op[1] % len(made)])
            if p.code_value:
                rt.payments.wallet_scan(buyer_login_id=buyers[op[2]], code_value=p.code_value)
        elif kind == "confirm" and made:
            p = _payment(rt, made[op[1] % len(made)])
            if p.buyer_login_id:
                rt.payments.wallet_confirm(
                    buyer_login_id=p.buyer_login_id, payment_id=p.payment_id, approve=op[2]
                )
        elif kind == "cancel" and made:
            rt.payments.cancel(merchant, payment_id=made[op[1] % len(made)], payment_request_id=None)
        elif kind == "refund" and made:
            rt.refunds.refund(
                merchant,
                RefundCommand(
                    refund_request_id=f"R{n}",
                    payment_id=made[op[1] % len(made)],
                    currency="USD",
                    amount=op[2],
                ),
            )
        elif kind == "advance":
            rt.clock.advance(op[1])
            rt.payments.run_due(rt.clock.now())
    except (GatewayError, ControlError):
        pass  # refusals are part of the game; the invariants must hold regardless


def _payment(rt: Runtime, payment_id: str) -> Payment:
    with rt.db.read() as s:
        return s.exec(select(Payment).where(Payment.payment_id == payment_id)).one()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=30))
def test_invariants_hold_over_random_sequences(sequence: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Pays with and without a notify URL both happen (the lenient setting), so the
        # invariant "a notify URL means a notification" meets both branches.
        rt = wire(
            build_runtime(Settings(data_dir=Path(tmp), tls_port=0, sftp_port=0, notify_url_optional=True))
        )
        try:
            app = rt.definition.applications[0]
            merchant = Merchant(app.client_id, app.customer_id, app.test_currency)
            money = _money(rt)
            made: list[str] = []
            seen = _statuses(rt)
            for n, op in enumerate(sequence):
                _step(rt, merchant, op, made, n)
                now = _statuses(rt)
                for pid, status in now.items():
                    before = seen.get(pid)
                    if before is not None and before != status:
                        assert PaymentStatus(status) in TRANSITIONS[PaymentStatus(before)], (
                            pid,
                            before,
                            status,
                        )
                seen = now
                assert _money(rt) == money
            with rt.db.read() as s:
                payments = s.exec(select(Payment)).all()
                refunds = s.exec(select(Refund).where(Refund.status == "SUCCESS")).all()
                notified = {n.payment_id for n in s.exec(select(Notification)).all()}
            for p in payments:
                total = sum(r.amount for r in refunds if r.payment_id == p.payment_id)
                assert total == p.refunded_amount <= p.amount
                if p.status == "SUCCESS" and p.notify_url:
                    assert p.payment_id in notified
        finally:
            rt.close()
