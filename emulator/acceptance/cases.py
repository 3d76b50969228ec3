"""The in-store acceptance cases as one declarative table: what each arms, reads and requires.

Each row names the case (its id is part of the contract), tells a person what to do and what
should happen, says which application scenarios it applies to, what the emulator arms when it
starts, which evidence it reads, and the rule that grades that evidence. A rule is a pure
function of ``Evidence``: a ``Verdict`` once the case is decided, ``None`` while it waits. At
the run's finish (``Evidence.final``) a rule explains a failure; a case still undecided then
fails as "not exercised". Reasons say what the integration should have done, citing the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from .evidence import Call, Evidence, Ref

Source = Literal["requests", "notifications", "downloads"]


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reason: str | None
    evidence: tuple[Ref, ...]


def passed(*refs: Ref) -> Verdict:
    return Verdict(True, None, tuple(dict.fromkeys(refs)))


def failed(reason: str, *refs: Ref) -> Verdict:
    return Verdict(False, reason, tuple(dict.fromkeys(refs)))


@dataclass(frozen=True, slots=True)
class Arming:
    """What starting a case makes the emulator do (interpreted in one place: the service)."""

    buyer: str | None = None  # hand out a payment code of a buyer with this behaviour
    digits: int = 18
    scenario: tuple[str, str] | None = None  # (api, resultCode) forced on the next such call
    fault: tuple[str, str] | None = None  # (api, fault kind) on the next such call
    confirm_after_inquiry: bool = False  # the buyer confirms once the first inquiry arrived
    resend: bool = False  # send the next notifyPayment again once it was acknowledged
    tamper: bool = False  # send a copy of the next notifyPayment with a spoiled signature


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    instruction: str
    expected: str
    required: bool
    scenarios: frozenset[str] | None  # the application needs one of these; None: any
    arming: Arming | None  # None: waiting from the start of the run
    reads: tuple[Source, ...]
    rule: Callable[[Evidence], Verdict | None]


# -- helpers over the evidence ---------------------------------------------------------------


def _pays(e: Evidence, scenario: str | None = None) -> list[Call]:
    return [c for c in e.calls if c.api == "pay" and (scenario is None or c.scenario == scenario)]


def _seen(calls: Iterable[Call]) -> str:
    shown = [
        f"{c.api} {c.request_id or c.refund_request_id or ''} answered {c.told()}".strip() for c in calls
    ]
    return "; ".join(shown[:5]) + (f"; and {len(shown) - 5} more" if len(shown) > 5 else "")


def _given_pay(e: Evidence) -> Call | None:
    code = e.values.get("paymentCode")
    return next((c for c in _pays(e) if code and c.code == code), None)


def _new_pay_for_order(c: Call, first: Call) -> bool:
    return (
        c.api == "pay"
        and first.order_id is not None
        and c.order_id == first.order_id
        and c.request_id != first.request_id
    )


NOT_GIVEN = "no pay used the payment code this case handed out"
POLL = "On U, poll inquiryPayment for the same payment, 10-20 times 3 s apart, then cancel (spec §3.2)"


# -- the rules -------------------------------------------------------------------------------


def direct_payment(e: Evidence) -> Verdict | None:
    for c in _pays(e, "PaymentCode"):
        if c.delivered and c.result_code == "SUCCESS":
            return passed(c.ref)
    if not e.final:
        return None
    pays = _pays(e)
    if not pays:
        return failed("not exercised: no pay arrived after the case started")
    return failed(
        f"no PaymentCode pay was answered S ({_seen(pays)}). Send productCode IN_STORE_PAYMENT, "
        "paymentFactor.inStorePaymentScenario PaymentCode and the buyer's code in "
        "paymentMethod.paymentMethodId, amounts in minor units as strings (spec §3.1, §3.2)",
        *(c.ref for c in pays),
    )


def long_code(e: Evidence) -> Verdict | None:
    for c in _pays(e, "PaymentCode"):
        if c.delivered and c.result_code == "SUCCESS" and len(c.code or "") == 24:
            return passed(c.ref)
    if not e.final:
        return None
    pays = _pays(e, "PaymentCode")
    if not pays:
        return failed("not exercised: no PaymentCode pay arrived after the case started")
    lengths = sorted({len(c.code or "") for c in pays})
    return failed(
        f"no pay with a 24-digit code was answered S (codes sent had {lengths} digits; {_seen(pays)}). "
        "Accept and send payment codes of 16 to 24 digits unchanged (spec §3.2 payment-code "
        "specifications)",
        *(c.ref for c in pays),
    )


def verification(e: Evidence) -> Verdict | None:
    first = _given_pay(e)
    if first is None:
        return failed(f"not exercised: {NOT_GIVEN}") if e.final else None
    polls: list[Call] = []
    rid = first.request_id
    for c in e.after(first):
        if _new_pay_for_order(c, first):
            return failed(
                f"paid again for order {first.order_id} with a new paymentRequestId {c.request_id} "
                f"while the first pay was still in process: the buyer could pay twice. {POLL}",
                first.ref,
                *(p.ref for p in polls),
                c.ref,
            )
        if c.api == "cancel" and e.refers(c, rid):
            return failed(
                f"cancelled payment {rid} while the buyer was still confirming, after "
                f"{len(polls)} inquiries. {POLL}",
                first.ref,
                *(p.ref for p in polls),
                c.ref,
            )
        if c.api == "inquiryPayment" and e.refers(c, rid):
            polls.append(c)
            if c.payment_status == "SUCCESS":
                return passed(first.ref, *(p.ref for p in polls))
    if not e.final:
        return None
    if not polls:
        return failed(f"pay {rid} was answered {first.told()} and never inquired. {POLL}", first.ref)
    return failed(
        f"inquired {len(polls)} times but no inquiry reported SUCCESS. {POLL}",
        first.ref,
        *(p.ref for p in polls),
    )


def never_completes(e: Evidence) -> Verdict | None:
    first = _given_pay(e)
    if first is None:
        return failed(f"not exercised: {NOT_GIVEN}") if e.final else None
    polls: list[Call] = []
    rid = first.request_id
    for c in e.after(first):
        if _new_pay_for_order(c, first):
            return failed(
                f"paid again for order {first.order_id} with a new paymentRequestId {c.request_id} "
                f"before cancelling {rid}: both could be paid. {POLL}",
                first.ref,
                *(p.ref for p in polls),
                c.ref,
            )
        if c.api == "inquiryPayment" and e.refers(c, rid):
            polls.append(c)
        if c.api == "cancel" and e.refers(c, rid):
            if not polls:
                return failed(
                    f"cancelled {rid} without polling inquiryPayment first. {POLL}", first.ref, c.ref
                )
            return passed(first.ref, *(p.ref for p in polls), c.ref)
    if not e.final:
        return None
    if not polls:
        return failed(f"pay {rid} was answered {first.told()} and never inquired. {POLL}", first.ref)
    return failed(
        f"polled {len(polls)} times but never cancelled the payment that did not complete. {POLL}",
        first.ref,
        *(p.ref for p in polls),
    )


def after_system_error(e: Evidence) -> Verdict | None:
    first = next((c for c in _pays(e) if c.result_code == "SYSTEM_ERROR"), None)
    if first is None:
        return (
            failed("not exercised: no pay was answered SYSTEM_ERROR after the case started")
            if e.final
            else None
        )
    rid = first.request_id
    for c in e.after(first):
        same_order = first.order_id is not None and c.order_id == first.order_id
        if c.api in ("inquiryPayment", "cancel") and c.field("paymentRequestId") == rid:
            return passed(first.ref, c.ref)
        if c.api == "pay" and (same_order or c.request_id == rid):
            what = (
                f"paid again with a new paymentRequestId {c.request_id} for order {first.order_id}"
                if c.request_id != rid
                else f"repeated the pay {rid}"
            )
            return failed(
                f"after SYSTEM_ERROR the integration {what}. SYSTEM_ERROR means do not retry: "
                "inquire (inquiryPayment) or cancel with the same paymentRequestId to learn or end "
                "the payment's fate (spec §3.2, §4.1)",
                first.ref,
                c.ref,
            )
    if not e.final:
        return None
    return failed(
        f"pay {rid} was answered SYSTEM_ERROR and never followed by inquiryPayment or cancel with "
        "the same paymentRequestId (spec §3.2, §4.1)",
        first.ref,
    )


def pay_timeout(e: Evidence) -> Verdict | None:
    first = next((c for c in _pays(e) if not c.delivered), None)
    if first is None:
        return failed("not exercised: no pay was left unanswered after the case started") if e.final else None
    rid = first.request_id
    inquiry: Call | None = None
    for c in e.after(first):
        if _new_pay_for_order(c, first):
            return failed(
                f"paid again for order {first.order_id} with a new paymentRequestId {c.request_id} "
                f"after the pay {rid} timed out{' and was inquired' if inquiry else ''} but before "
                "it was cancelled: the buyer was charged by the first one. After a timeout inquire "
                "with the same paymentRequestId and cancel unless it shows SUCCESS (spec §3.2, §3.5)",
                first.ref,
                c.ref,
            )
        if c.api == "inquiryPayment" and c.field("paymentRequestId") == rid:
            inquiry = c
            if c.payment_status == "SUCCESS":
                return passed(first.ref, c.ref)
        if c.api == "cancel" and e.refers(c, rid):
            if inquiry is None:
                return failed(
                    f"cancelled {rid} without inquiring first: the payment had succeeded. Inquire "
                    "with the same paymentRequestId, cancel only unless it shows SUCCESS (spec §3.2)",
                    first.ref,
                    c.ref,
                )
            return passed(first.ref, inquiry.ref, c.ref)
    if not e.final:
        return None
    if inquiry is None:
        return failed(
            f"pay {rid} got no answer and was never inquired with its paymentRequestId "
            "(only that works after a timeout, spec §3.5). Inquire, then cancel unless SUCCESS (spec §3.2)",
            first.ref,
        )
    return failed(
        f"the inquiry showed {inquiry.payment_status or inquiry.told()} but the payment was never "
        "cancelled (spec §3.2)",
        first.ref,
        inquiry.ref,
    )


def _order_codes(e: Evidence) -> list[Call]:
    return [c for c in _pays(e, "OrderCode") if c.delivered and c.result_code == "SUCCESS" and c.payment_id]


def order_code_paid(e: Evidence) -> Verdict | None:
    codes = _order_codes(e)
    for oc in codes:
        rid = oc.request_id
        for c in e.after(oc):
            if c.api == "inquiryPayment" and e.refers(c, rid) and c.payment_status == "SUCCESS":
                return passed(oc.ref, c.ref)
        for n in e.notifications:
            if n.kind == "PAYMENT_RESULT" and n.payment_id == oc.payment_id and n.acknowledged:
                return passed(oc.ref, n.ref)
    if not e.final:
        return None
    if not codes:
        return failed("not exercised: no OrderCode pay was answered S after the case started")
    paid = [oc for oc in codes if (f := e.payments.get(oc.payment_id or "")) is not None and f.scanned]
    if not paid:
        return failed(
            "no order code of this run was paid: have the buyer scan one in the wallet",
            *(oc.ref for oc in codes),
        )
    return failed(
        f"order code {paid[0].request_id} was paid but the integration never learned it: no "
        "inquiry showed SUCCESS and no notifyPayment was acknowledged. Show the code, then wait "
        "for notifyPayment and poll inquiryPayment (spec §3.3, §1.4)",
        *(oc.ref for oc in paid),
        *(n.ref for n in e.notifications if n.payment_id == paid[0].payment_id),
    )


def order_code_unpaid(e: Evidence) -> Verdict | None:
    codes = [
        oc
        for oc in _order_codes(e)
        if (f := e.payments.get(oc.payment_id or "")) is not None and not f.scanned
    ]
    for oc in codes:
        rid = oc.request_id
        polls: list[Call] = []
        for c in e.after(oc):
            if c.api == "inquiryPayment" and e.refers(c, rid):
                polls.append(c)
                if c.payment_status in ("FAIL", "CANCELLED"):
                    return passed(oc.ref, *(p.ref for p in polls))
            if c.api == "cancel" and e.refers(c, rid):
                if not polls:
                    return failed(
                        f"cancelled order code {rid} without polling inquiryPayment first: the "
                        "buyer may have been paying. Poll, then cancel (spec §3.2, §3.3)",
                        oc.ref,
                        c.ref,
                    )
                return passed(oc.ref, *(p.ref for p in polls), c.ref)
    if not e.final:
        return None
    if not codes:
        return failed("not exercised: no unpaid order code was created after the case started")
    return failed(
        f"order code {codes[0].request_id} was never paid and the integration neither cancelled it "
        "nor saw it closed by inquiry: poll inquiryPayment, then cancel (spec §3.3, §3.6)",
        *(oc.ref for oc in codes),
    )


def _refunds(e: Evidence) -> list[Call]:
    return [c for c in e.calls if c.api == "refund"]


def _paid(e: Evidence, c: Call) -> int | None:
    facts = e.payments.get(c.payment_id or "")
    return facts.amount if facts else None


def full_refund(e: Evidence) -> Verdict | None:
    refunds = _refunds(e)
    for c in refunds:
        if c.delivered and c.result_code == "SUCCESS" and c.amount is not None and c.amount == _paid(e, c):
            return passed(c.ref)
    if not e.final:
        return None
    if not refunds:
        return failed("not exercised: no refund arrived after the case started")
    return failed(
        f"no refund of a payment's whole amount was answered S ({_seen(refunds)}). Refund the paid "
        "amount, in minor units as a string, with the payment's paymentId (spec §3.7)",
        *(c.ref for c in refunds),
    )


def partial_refunds(e: Evidence) -> Verdict | None:
    refunds = _refunds(e)
    for c in refunds:
        if c.result_code in ("REPEAT_REQ_INCONSISTENT", "REFUND_AMOUNT_EXCEED"):
            return failed(
                f"refund {c.refund_request_id} was answered {c.told()}: each partial refund needs a "
                "new refundRequestId and the refunds together must not exceed the paid amount "
                "(spec §3.7, §4.8)",
                c.ref,
            )
    by_payment: dict[str, list[Call]] = {}
    for c in refunds:
        paid = _paid(e, c)
        if c.delivered and c.result_code == "SUCCESS" and paid is not None and (c.amount or 0) < paid:
            by_payment.setdefault(c.payment_id or "", []).append(c)
    for calls in by_payment.values():
        distinct = {c.refund_request_id: c for c in calls}
        if len(distinct) >= 2:
            return passed(*(c.ref for c in distinct.values()))
    if not e.final:
        return None
    if not refunds:
        return failed("not exercised: no refund arrived after the case started")
    reused = [
        c for calls in by_payment.values() for c in calls if len({x.refund_request_id for x in calls}) < 2
    ]
    if len(reused) >= 2:
        return failed(
            f"the partial refunds of one payment reused refundRequestId {reused[0].refund_request_id}: "
            "a repeat is answered with the first refund and refunds nothing more. Give each partial "
            "refund its own refundRequestId (spec §4.8)",
            *(c.ref for c in reused),
        )
    return failed(
        f"no payment got two partial refunds answered S ({_seen(refunds)}) (spec §3.7)",
        *(c.ref for c in refunds),
    )


def refund_retry(e: Evidence) -> Verdict | None:
    first = next((c for c in _refunds(e) if not c.delivered), None)
    if first is None:
        return (
            failed("not exercised: no refund was left unanswered after the case started") if e.final else None
        )
    rrid = first.refund_request_id
    for c in e.after(first):
        if c.api == "refund" and c.payment_id == first.payment_id:
            if c.refund_request_id == rrid:
                return passed(first.ref, c.ref)
            return failed(
                f"refunded again with a new refundRequestId {c.refund_request_id} after refund "
                f"{rrid} timed out: the buyer may be refunded twice. Retry with the same "
                "refundRequestId (spec §3.7, §4.8)",
                first.ref,
                c.ref,
            )
        if (
            c.api == "inquiryRefund"
            and c.field("refundRequestId") == rrid
            and c.answer.get("refundStatus") == "SUCCESS"
        ):
            return passed(first.ref, c.ref)
    if not e.final:
        return None
    return failed(
        f"refund {rrid} got no answer and was never retried with the same refundRequestId (spec §3.7)",
        first.ref,
    )


ACK_BODY = '{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'


def notification_acknowledged(e: Evidence) -> Verdict | None:
    notice = next((n for n in e.notifications if n.kind == "PAYMENT_RESULT" and n.attempts), None)
    if notice is None:
        return (
            failed(
                "not exercised: no notifyPayment was sent after the case started (pay with paymentNotifyUrl)"
            )
            if e.final
            else None
        )
    first = notice.attempts[0]
    if not first.acknowledged:
        told = first.error or f"HTTP {first.http_status} {first.response_body or ''}".strip()
        return failed(
            f"the endpoint did not acknowledge notifyPayment {notice.id} (it answered {told}). Verify "
            f"the signature, then answer HTTP 200 with {ACK_BODY} (spec §1.4)",
            notice.ref,
        )
    resent = e.state.get("resentAttempt")
    again = next((a for a in notice.attempts if isinstance(resent, int) and a.number == resent), None)
    if again is None:
        return failed("the emulator could not send the notification again") if e.final else None
    if again.acknowledged:
        return passed(notice.ref)
    told = again.error or f"HTTP {again.http_status} {again.response_body or ''}".strip()
    return failed(
        f"the endpoint acknowledged notifyPayment {notice.id} once but not when it came again "
        f"({told}). Alipay resends until acknowledged: acknowledge duplicates too, and process "
        "them once (spec §1.4)",
        notice.ref,
    )


def tampered_refused(e: Evidence) -> Verdict | None:
    tampered = e.state.get("tampered")
    if not isinstance(tampered, dict):
        if e.final:
            return failed(
                "not exercised: no notifyPayment was sent after the case started (pay with paymentNotifyUrl)"
            )
        return None
    ref = Ref("notification", int(tampered.get("notificationId", 0)))
    if tampered.get("acknowledged"):
        return failed(
            "the endpoint acknowledged a notifyPayment whose signature does not verify: anyone could "
            "fake a payment result. Verify the signature header over 'POST <path>\\n<client-id>."
            "<request-time>.<body>' with the Alipay public key before trusting it (spec §1.4, §2.4)",
            ref,
        )
    return passed(ref)


def report_downloaded(e: Evidence) -> Verdict | None:
    for d in e.downloads:
        if d.kind == "transactionItems" and d.of_closed_day:
            return passed(d.ref)
    if not e.final:
        return None
    if not e.downloads:
        return failed(
            "not exercised: no report was downloaded after the case started: fetch transactionItems_*.csv of a "
            "closed day from v1/settlements/<customerId>/<yyyyMMdd>/ over SFTP (spec §6.1, §6.2)"
        )
    kinds = sorted({d.kind for d in e.downloads})
    return failed(
        f"downloaded {', '.join(kinds)} but no transaction file of a closed day (GMT+8, cut-off "
        "midnight): reconcile from transactionItems_*.csv (spec §6.2, §6.5)",
        *(d.ref for d in e.downloads),
    )


# -- the table -------------------------------------------------------------------------------

PAYMENT_CODE = frozenset({"PaymentCode"})
ORDER_CODE = frozenset({"OrderCode"})

CASES: tuple[Case, ...] = (
    Case(
        "SPOT-001",
        "Direct payment",
        "Scan a buyer's payment code (from the wallet page or Start) and pay with it.",
        "The pay is answered S (SUCCESS).",
        True,
        PAYMENT_CODE,
        None,
        ("requests",),
        direct_payment,
    ),
    Case(
        "SPOT-002",
        "24-digit payment code",
        "Press Start, then pay with the 24-digit payment code it gives.",
        "The pay with the 24-digit code is answered S.",
        False,
        PAYMENT_CODE,
        Arming(buyer="normal", digits=24),
        ("requests",),
        long_code,
    ),
    Case(
        "SPOT-003",
        "Buyer verification",
        "Press Start, then pay with the code it gives. The buyer must confirm on the phone, so "
        "the pay is answered U PAYMENT_IN_PROCESS; the buyer confirms after your first inquiry.",
        "The POS polls inquiryPayment for that payment until an inquiry reports SUCCESS, and "
        "makes no new pay for the same referenceOrderId meanwhile.",
        True,
        PAYMENT_CODE,
        Arming(buyer="needs_verification", confirm_after_inquiry=True),
        ("requests",),
        verification,
    ),
    Case(
        "SPOT-004",
        "Payment never completes",
        "Press Start, then pay with the code it gives. The buyer never confirms.",
        "After polling inquiryPayment the POS cancels that payment; it does not pay again for "
        "the same referenceOrderId with a new paymentRequestId first.",
        False,
        PAYMENT_CODE,
        Arming(buyer="needs_verification"),
        ("requests",),
        never_completes,
    ),
    Case(
        "SPOT-005",
        "SYSTEM_ERROR on pay",
        "Press Start, then make a payment: the next pay of this application is answered F SYSTEM_ERROR.",
        "The POS's next call for that order is inquiryPayment or cancel with the same "
        "paymentRequestId, not a new pay.",
        True,
        PAYMENT_CODE,
        Arming(buyer="normal", scenario=("pay", "SYSTEM_ERROR")),
        ("requests",),
        after_system_error,
    ),
    Case(
        "SPOT-006",
        "Pay timeout",
        "Press Start, then make a payment: the next pay is committed (the buyer is charged) and "
        "the connection is closed without an answer.",
        "The POS inquires with the same paymentRequestId and, unless that shows SUCCESS, cancels "
        "it; it does not pay again with a new paymentRequestId first.",
        True,
        PAYMENT_CODE,
        Arming(buyer="normal", fault=("pay", "drop_after_commit")),
        ("requests",),
        pay_timeout,
    ),
    Case(
        "OC-001",
        "Order code paid",
        "Create an order code (OrderCode pay) and have a buyer scan and pay it in the wallet.",
        "The POS learns SUCCESS: an inquiry shows it, or its endpoint acknowledges notifyPayment.",
        True,
        ORDER_CODE,
        None,
        ("requests", "notifications"),
        order_code_paid,
    ),
    Case(
        "OC-002",
        "Order code never paid",
        "Create an order code (OrderCode pay) that nobody pays.",
        "After polling, the POS cancels the unpaid order code (or an inquiry shows it closed).",
        False,
        ORDER_CODE,
        None,
        ("requests",),
        order_code_unpaid,
    ),
    Case(
        "REFUND-001",
        "Full refund",
        "Refund a successful payment in full.",
        "The refund of the whole paid amount is answered S.",
        True,
        None,
        None,
        ("requests",),
        full_refund,
    ),
    Case(
        "REFUND-002",
        "Partial refunds",
        "Refund one successful payment at least twice, in parts.",
        "At least two partial refunds of one payment, each with its own refundRequestId, all "
        "answered S, together no more than paid.",
        False,
        None,
        None,
        ("requests",),
        partial_refunds,
    ),
    Case(
        "REFUND-003",
        "Refund retried after a timeout",
        "Press Start, then refund a payment: the first refund is committed and its answer withheld.",
        "The POS retries the refund with the same refundRequestId (or inquires it by that id).",
        False,
        None,
        Arming(fault=("refund", "drop_after_commit")),
        ("requests",),
        refund_retry,
    ),
    Case(
        "NOTIFY-001",
        "Notification acknowledged",
        "Press Start, then make a payment with paymentNotifyUrl pointing at your endpoint; the "
        "emulator sends its notifyPayment twice.",
        f"Your endpoint answers HTTP 200 with {ACK_BODY}, both times.",
        True,
        None,
        Arming(resend=True),
        ("notifications",),
        notification_acknowledged,
    ),
    Case(
        "NOTIFY-002",
        "Tampered notification refused",
        "Press Start, then make a payment with paymentNotifyUrl pointing at your endpoint; the "
        "emulator also sends a copy whose signature was tampered with.",
        "Your endpoint refuses the tampered copy (anything but an S acknowledgement).",
        False,
        None,
        Arming(tamper=True),
        ("notifications",),
        tampered_refused,
    ),
    Case(
        "RECON-001",
        "Transaction file downloaded",
        "After a day with transactions has closed (midnight GMT+8; advance the emulator clock), "
        "download that day's transaction file over SFTP or HTTP.",
        "A transactionItems file of a closed day was downloaded.",
        False,
        None,
        None,
        ("downloads",),
        report_downloaded,
    ),
)

BY_ID: dict[str, Case] = {c.id: c for c in CASES}


def applies(case: Case, scenarios: Iterable[str]) -> bool:
    return case.scenarios is None or bool(case.scenarios & set(scenarios))
