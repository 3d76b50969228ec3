"""Pay with a seeded buyer's payment code using the official SDK (global-open-sdk-python 1.7.1).

Run it in the SDK's virtual environment, with the emulator's CA trusted and its HTTPS on 443:
    SSL_CERT_FILE=.alipay-emulator/tls/ca.pem python examples/quickstart.py
"""

import json
import os
import urllib.request

from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.env import Env
from com.alipay.ams.api.model.merchant import Merchant
from com.alipay.ams.api.model.order import Order
from com.alipay.ams.api.model.store import Store
from com.alipay.ams.api.request.pay.alipay_pay_query_request import AlipayPayQueryRequest
from com.alipay.ams.api.request.pay.user_presented_code_payment_request import (
    UserPresentedCodePaymentRequest,
)

CONTROL = os.environ.get("EMULATOR_CONTROL_URL", "http://localhost:8080")


def control(method, path):
    with urllib.request.urlopen(urllib.request.Request(CONTROL + path, method=method)) as r:
        return json.load(r)


sandbox = control("GET", "/_emulator/sandbox")
app = next(a for a in sandbox["applications"] if a["role"] == "MERCHANT")
buyer = next(b for b in sandbox["buyers"] if b["behaviour"] == "normal")
code = control("POST", "/_emulator/buyers/%s/payment-codes" % buyer["loginId"])["paymentCode"]

# The Python SDK always connects to port 443 of the host in the gateway URL.
client = DefaultAlipayClient(
    "https://localhost", app["clientId"], app["merchantPrivateKeyPem"], sandbox["alipayPublicKey"]
)

store = Store()
store.reference_store_id, store.store_name, store.store_mcc = "S001", "Demo Store", "5411"
merchant = Merchant()
merchant.reference_merchant_id, merchant.merchant_mcc, merchant.merchant_name = "M001", "5411", "Demo"
merchant.store = store
env = Env()
env.store_terminal_id, env.store_terminal_request_time = "T001", "2026-11-26T10:00:00+08:00"
order = Order()
order.reference_order_id, order.order_description = "ORDER-1", "Two coffees"
order.order_amount = Amount(app["testCurrency"], "1000")
order.merchant, order.env = merchant, env

request_id = "quickstart-%d" % int(__import__("time").time() * 1000)
# paymentNotifyUrl is required (as in production): where notifyPayment goes. Nothing listens on
# port 9 here; the emulator retries the delivery, which this script does not wait for.
notify_url = "http://127.0.0.1:9/notify"
pay = UserPresentedCodePaymentRequest(request_id, order, app["testCurrency"], "1000", code, notify_url)
paid = json.loads(client.execute(pay))  # the SDK has verified the response signature
print("pay:", paid["result"]["resultCode"], paid.get("paymentId"))

query = AlipayPayQueryRequest()
query.payment_request_id = request_id
print("inquiryPayment:", json.loads(client.execute(query))["paymentStatus"])
