"""Example client: one signed PaymentCode payment, inquiry and refund against the emulator.

It does what a POS integration test would do with the unmodified official Python SDK
(global-open-sdk-python 1.7.1):

1. fetch the emulator's local CA over plain HTTP and trust it through SSL_CERT_FILE
   (the SDK verifies certificates against the default trust store);
2. read the sandbox resources: a merchant application's client ID and keys, the Alipay
   public key, and a buyer whose behaviour is "normal";
3. have that buyer present a fresh payment code (what scanning the buyer's phone gives a POS);
4. pay with it (UserPresentedCodePaymentRequest), inquire, refund part of it.

It prints each result and exits 0 only if all of them succeeded.

Settings (environment):
    EMULATOR_URL   control API over HTTP           (default http://alipay-emulator:8080)
    GATEWAY_URL    what DefaultAlipayClient gets   (default https://alipay-emulator)
                   The SDK always connects to port 443 of this host.
    ALIPAY_EMULATOR_ADMIN_TOKEN   sent to the control API when the emulator requires it
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
import uuid

EMULATOR_URL = os.environ.get("EMULATOR_URL", "http://alipay-emulator:8080").rstrip("/")
GATEWAY_URL = os.environ.get("GATEWAY_URL", "https://alipay-emulator")
ADMIN_TOKEN = os.environ.get("ALIPAY_EMULATOR_ADMIN_TOKEN")


def control(method: str, path: str) -> bytes:
    """One call to the emulator's control API (/_emulator/...), which is plain HTTP."""
    data = b"" if method == "POST" else None
    request = urllib.request.Request(EMULATOR_URL + path, method=method, data=data)
    if ADMIN_TOKEN:
        request.add_header("Authorization", "Bearer " + ADMIN_TOKEN)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def wait_healthy(timeout: float = 60) -> None:
    # compose already waits for service_healthy; this makes the script usable on its own too.
    deadline = time.monotonic() + timeout
    while True:
        try:
            control("GET", "/_emulator/health")
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"emulator at {EMULATOR_URL} not healthy in {timeout:.0f}s: {exc}"
                ) from exc
            time.sleep(0.5)


def trust_emulator_ca() -> str:
    pem = control("GET", "/_emulator/ca.pem")
    fd, path = tempfile.mkstemp(prefix="alipay-emulator-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    # Read by OpenSSL when the SDK builds its context (ssl.create_default_context()).
    os.environ["SSL_CERT_FILE"] = path
    return path


def order(*, request_id: str, currency: str, amount: str):
    from com.alipay.ams.api.model.amount import Amount
    from com.alipay.ams.api.model.env import Env
    from com.alipay.ams.api.model.merchant import Merchant
    from com.alipay.ams.api.model.order import Order
    from com.alipay.ams.api.model.store import Store

    store = Store()
    store.reference_store_id = "STORE-001"
    store.store_name = "Compose Example Store"
    store.store_mcc = "5411"
    merchant = Merchant()
    merchant.reference_merchant_id = "MERCHANT-001"
    merchant.merchant_mcc = "5411"
    merchant.merchant_name = "Compose Example Merchant"
    merchant.store = store
    env = Env()
    env.store_terminal_id = "POS-01"
    env.store_terminal_request_time = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    result = Order()
    result.reference_order_id = "ORDER-" + request_id
    result.order_description = "compose example order"
    result.order_amount = Amount(currency, amount)
    result.merchant = merchant
    result.env = env
    return result


def show(step: str, body: dict) -> None:
    print(f"--- {step}: {json.dumps(body, indent=2, sort_keys=True)}", flush=True)


def main() -> int:
    wait_healthy()
    ca_file = trust_emulator_ca()
    sandbox = json.loads(control("GET", "/_emulator/sandbox"))
    app = next(a for a in sandbox["applications"] if a["role"] == "MERCHANT")
    buyer = next(b for b in sandbox["buyers"] if b["behaviour"] == "normal")
    code = json.loads(control("POST", f"/_emulator/buyers/{buyer['loginId']}/payment-codes"))
    print(
        f"emulator {EMULATOR_URL}, gateway {GATEWAY_URL}, CA {ca_file}\n"
        f"merchant {app['clientId']} ({app['testCurrency']}), buyer {buyer['loginId']}, "
        f"payment code {code['paymentCode']}",
        flush=True,
    )

    # The SDK is imported after SSL_CERT_FILE is set, as an application would start with it set.
    from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
    from com.alipay.ams.api.model.amount import Amount
    from com.alipay.ams.api.request.pay.alipay_pay_query_request import AlipayPayQueryRequest
    from com.alipay.ams.api.request.pay.alipay_refund_request import AlipayRefundRequest
    from com.alipay.ams.api.request.pay.user_presented_code_payment_request import (
        UserPresentedCodePaymentRequest,
    )

    client = DefaultAlipayClient(
        GATEWAY_URL, app["clientId"], app["merchantPrivateKeyPem"], sandbox["alipayPublicKey"]
    )
    currency = app["testCurrency"]
    request_id = "COMPOSE-" + uuid.uuid4().hex[:16]  # unique: the data volume outlives runs
    ok = True

    pay = UserPresentedCodePaymentRequest(
        request_id,
        order(request_id=request_id, currency=currency, amount="1500"),
        currency,
        "1500",
        code["paymentCode"],
        # Required, as in production: where notifyPayment goes (nothing listens here; fine).
        "http://127.0.0.1:9/notify",
    )
    paid = json.loads(client.execute(pay))
    show("pay", paid)
    ok &= paid.get("result", {}).get("resultCode") == "SUCCESS"

    query = AlipayPayQueryRequest()
    query.payment_request_id = request_id
    inquiry = json.loads(client.execute(query))
    show("inquiry", inquiry)
    ok &= inquiry.get("paymentStatus") == "SUCCESS"

    refund = AlipayRefundRequest()
    refund.refund_request_id = "R-" + request_id
    refund.payment_id = paid.get("paymentId")
    refund.refund_amount = Amount(currency, "500")
    refunded = json.loads(client.execute(refund))
    show("refund", refunded)
    ok &= refunded.get("result", {}).get("resultCode") == "SUCCESS"

    print("example client: " + ("pay, inquiry, refund succeeded" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
