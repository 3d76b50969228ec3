"""A POS vendor's checkout tests against alipay-emulator, using its pytest plugin.

    pip install /path/to/alipay-emulator global-open-sdk-python==1.7.1 pytest
    # (alipay-emulator is on no package index: a checkout, a git URL or the wheel of
    #  `make wheel`; see "Installing it into your own project" in the README)
    pytest examples/pytest            # starts an emulator for the session (HTTPS on 443 if root)
    ALIPAY_EMULATOR_URL=http://localhost:8080 pytest examples/pytest   # or attach to a running one
"""

import json

import pytest
from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.env import Env
from com.alipay.ams.api.model.merchant import Merchant
from com.alipay.ams.api.model.order import Order
from com.alipay.ams.api.model.store import Store
from com.alipay.ams.api.request.pay.alipay_pay_cancel_request import AlipayPayCancelRequest
from com.alipay.ams.api.request.pay.alipay_pay_query_request import AlipayPayQueryRequest
from com.alipay.ams.api.request.pay.user_presented_code_payment_request import (
    UserPresentedCodePaymentRequest,
)


def make_order(currency, amount):
    store = Store()
    store.reference_store_id, store.store_name, store.store_mcc = "S001", "Main St", "5411"
    merchant = Merchant()
    merchant.reference_merchant_id, merchant.merchant_mcc, merchant.merchant_name = "M001", "5411", "Cafe"
    merchant.store = store
    env = Env()
    env.store_terminal_id, env.store_terminal_request_time = "T001", "2026-11-26T10:00:00+08:00"
    order = Order()
    order.reference_order_id, order.order_description = "ORDER-1", "Two coffees"
    order.order_amount, order.merchant, order.env = Amount(currency, str(amount)), merchant, env
    return order


@pytest.fixture
def pos(alipay_emulator, alipay_sandbox):
    app = alipay_sandbox.app()
    client = DefaultAlipayClient(
        alipay_emulator.gateway_url, app["clientId"], app["merchantPrivateKeyPem"], alipay_emulator.alipay_public_key
    )

    def pay(request_id, amount=1000, behaviour="normal"):
        code = alipay_sandbox.payment_code(behaviour)
        request = UserPresentedCodePaymentRequest(
            request_id, make_order(app["testCurrency"], amount), app["testCurrency"], str(amount), code,
            payment_notify_url=alipay_emulator.receiver.url,
        )
        return json.loads(client.execute(request))

    pay.client = client
    return pay


def test_payment_succeeds_and_the_merchant_is_notified(pos, alipay_emulator):
    paid = pos("checkout-1")
    assert paid["result"]["resultCode"] == "SUCCESS"
    [note] = alipay_emulator.receiver.wait_for(1)
    assert note.json()["paymentId"] == paid["paymentId"]
    assert note.verify(alipay_emulator.alipay_public_key)


def test_declined_for_insufficient_balance(pos):
    assert pos("checkout-2", amount=100000, behaviour="insufficient_balance")["result"]["resultCode"] == "USER_BALANCE_NOT_ENOUGH"


def test_timeout_after_the_gateway_took_the_money_is_recovered(pos, alipay_sandbox):
    alipay_sandbox.control.add_fault("pay", "drop_after_commit")
    with pytest.raises(OSError):  # the connection closes without an answer
        pos("checkout-3")
    query = AlipayPayQueryRequest()
    query.payment_request_id = "checkout-3"
    assert json.loads(pos.client.execute(query))["paymentStatus"] == "SUCCESS"
    cancel = AlipayPayCancelRequest()
    cancel.payment_request_id = "checkout-3"
    assert json.loads(pos.client.execute(cancel))["result"]["resultCode"] == "SUCCESS"
