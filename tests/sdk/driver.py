"""Drives the unmodified official Python SDK (global-open-sdk-python) for the end-to-end tests.

Runs inside the SDK's own virtual environment (it pins cryptography==44.0.3). Reads one JSON
command per line on stdin, answers one JSON line on stdout:
    {"op": "pay_code", "client": {...}, "args": {...}} -> {"ok": true, "body": {...}}
    failures of the SDK itself -> {"ok": false, "error": "...", "type": "AlipayApiException"}

The SDK always connects to port 443. When SDK_PORT_OVERRIDE is set (the tests could not bind
443), only the port of the SDK's HTTPS connection is patched; everything else is the SDK's.
"""

import json
import os
import sys
import traceback

PORT_OVERRIDE = os.environ.get("SDK_PORT_OVERRIDE")
if PORT_OVERRIDE:
    import http.client

    from com.alipay.ams.api.net import default_http_rpc

    class _PortPatched(http.client.HTTPSConnection):
        def __init__(self, host, port=None, **kw):
            super().__init__(host, port=int(PORT_OVERRIDE), **kw)

    class _Shim:
        HTTPSConnection = _PortPatched

    default_http_rpc.http_client = _Shim

from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.env import Env
from com.alipay.ams.api.model.merchant import Merchant
from com.alipay.ams.api.model.merchant_registration_info import MerchantRegistrationInfo
from com.alipay.ams.api.model.order import Order
from com.alipay.ams.api.model.registration_detail import RegistrationDetail
from com.alipay.ams.api.model.store import Store
from com.alipay.ams.api.request.merchant.alipay_merchant_registration_info_query_request import (
    AlipayMerchantRegistrationInfoQueryRequest,
)
from com.alipay.ams.api.request.merchant.alipay_merchant_registration_request import (
    AlipayMerchantRegistrationRequest,
)
from com.alipay.ams.api.request.merchant.alipay_merchant_registration_status_query_request import (
    AlipayMerchantRegistrationStatusQueryRequest,
)
from com.alipay.ams.api.request.pay.alipay_inquiry_refund_request import AlipayInquiryRefundRequest
from com.alipay.ams.api.request.pay.alipay_pay_cancel_request import AlipayPayCancelRequest
from com.alipay.ams.api.request.pay.alipay_pay_query_request import AlipayPayQueryRequest
from com.alipay.ams.api.request.pay.alipay_refund_request import AlipayRefundRequest
from com.alipay.ams.api.request.pay.entry_code_payment_request import EntryCodePaymentRequest
from com.alipay.ams.api.request.pay.order_code_payment_request import OrderCodePaymentRequest
from com.alipay.ams.api.request.pay.user_presented_code_payment_request import (
    UserPresentedCodePaymentRequest,
)
from com.alipay.ams.api.tools.webhook_tool import check_signature


def _client(c):
    return DefaultAlipayClient(
        c["gateway"], c["clientId"], c["privateKey"], c["alipayPublicKey"], c.get("agentToken")
    )


def _order(a):
    store = Store()
    store.reference_store_id = a.get("storeId", "S001")
    store.store_name = "Emulator Test Store"
    store.store_mcc = "5411"
    merchant = Merchant()
    merchant.reference_merchant_id = a.get("merchantId", "M001")
    merchant.merchant_mcc = "5411"
    merchant.merchant_name = "Emulator Test Merchant"
    merchant.store = store
    env = Env()
    env.store_terminal_id = "T001"
    env.store_terminal_request_time = "2026-11-26T10:00:00+08:00"
    if a.get("userAgent"):
        env.user_agent = a["userAgent"]
    order = Order()
    order.reference_order_id = a.get("orderId", "ORDER-" + a["paymentRequestId"])
    order.order_description = a.get("description", "emulator e2e order")
    order.order_amount = Amount(a["currency"], str(a["amount"]))
    order.merchant = merchant
    order.env = env
    return order


class RegistrationWithStore(AlipayMerchantRegistrationRequest):
    """The SDK's registration request plus storeInfo, which its class does not have (README)."""

    def __init__(self, store_info):
        super().__init__()
        self.store_info = store_info

    def to_ams_json(self):
        body = json.loads(super().to_ams_json())
        body["storeInfo"] = self.store_info
        return json.dumps(body, indent=3)


def _registration(a):
    detail = RegistrationDetail()
    detail.legal_name = a.get("legalName", "Emulator Sub-merchant Pte Ltd")
    detail.registration_type = "ENTERPRISE_REGISTRATION"
    detail.registration_no = "201912345K"
    info = MerchantRegistrationInfo()
    info.reference_merchant_id = a["merchantId"]
    info.merchant_display_name = a.get("merchantName", "Emulator Sub-merchant")
    info.merchant_mcc = a.get("mcc", "5812")
    info.registration_detail = detail
    req = RegistrationWithStore(a["storeInfo"]) if a.get("storeInfo") else AlipayMerchantRegistrationRequest()
    req.registration_request_id = a["registrationRequestId"]
    req.product_codes = ["IN_STORE_PAYMENT"]
    req.merchant_info = info
    if a.get("notifyUrl"):
        req.registration_notify_url = a["notifyUrl"]
    return req


def run(op, client, a):
    extra = a.get("extraHeaders")
    if op == "pay_code":
        req = UserPresentedCodePaymentRequest(
            a["paymentRequestId"],
            _order(a),
            a["currency"],
            str(a["amount"]),
            a["paymentCode"],
            a.get("notifyUrl"),
            a.get("expiryTime"),
        )
    elif op == "pay_order_code":
        req = OrderCodePaymentRequest(
            a["paymentRequestId"],
            _order(a),
            a["currency"],
            str(a["amount"]),
            a.get("notifyUrl"),
            a.get("expiryTime"),
        )
    elif op == "pay_entry_code":
        req = EntryCodePaymentRequest(
            a["paymentRequestId"],
            _order(a),
            a["currency"],
            str(a["amount"]),
            a.get("notifyUrl"),
            a.get("redirectUrl"),
            a.get("expiryTime"),
        )
    elif op == "inquiry":
        req = AlipayPayQueryRequest()
        req.payment_request_id = a.get("paymentRequestId")
        req.payment_id = a.get("paymentId")
    elif op == "cancel":
        req = AlipayPayCancelRequest()
        req.payment_request_id = a.get("paymentRequestId")
        req.payment_id = a.get("paymentId")
    elif op == "refund":
        req = AlipayRefundRequest()
        req.refund_request_id = a["refundRequestId"]
        req.payment_id = a["paymentId"]
        req.refund_amount = Amount(a["currency"], str(a["amount"]))
        if a.get("notifyUrl"):
            req.refund_notify_url = a["notifyUrl"]
    elif op == "inquiry_refund":
        req = AlipayInquiryRefundRequest()
        req.refund_request_id = a.get("refundRequestId")
        req.refund_id = a.get("refundId")
    elif op == "register":
        req = _registration(a)
    elif op == "registration_status":
        req = AlipayMerchantRegistrationStatusQueryRequest()
        req.registration_request_id = a.get("registrationRequestId")
        req.reference_merchant_id = a.get("merchantId")
    elif op == "registration_info":
        req = AlipayMerchantRegistrationInfoQueryRequest()
        req.reference_merchant_id = a.get("merchantId")
    elif op == "check_webhook":
        ok = check_signature(
            "POST",
            a["path"],
            a["clientId"],
            a["requestTime"],
            a["body"],
            a["signature"],
            a["alipayPublicKey"],
        )
        return {"verified": bool(ok)}
    else:
        raise ValueError("unknown op " + op)
    if a.get("keyVersion"):
        req.key_version = a["keyVersion"]
    if extra:
        return json.loads(client.execute_with_headers(req, extra))
    return json.loads(client.execute(req))


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            client = _client(cmd["client"]) if cmd.get("client") else None
            out = {"ok": True, "body": run(cmd["op"], client, cmd.get("args", {}))}
        except Exception as exc:  # the SDK's own failures are data for the tests
            out = {
                "ok": False,
                "error": str(exc),
                "type": type(exc).__name__,
                "trace": traceback.format_exc(limit=3),
            }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
