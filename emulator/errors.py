"""The gateway's result codes and the one exception hierarchy that carries them.

Services raise a ``GatewayError`` subclass named after the wire code; one handler in
``emulator.gateway`` renders it as ``{"result": {...}}`` and signs it (spec §1.1: HTTP 200
for every business result).

    GatewayError(code, status, message)
    ├── ParamIllegal                 PARAM_ILLEGAL (names the field)
    ├── NoInterfaceDef               NO_INTERFACE_DEF
    ├── MethodNotSupported           METHOD_NOT_SUPPORTED
    ├── MediaTypeNotAcceptable       MEDIA_TYPE_NOT_ACCEPTABLE
    ├── AuthError                    (may be answered unsigned, spec §9 U2)
    │   ├── ClientInvalid            CLIENT_INVALID
    │   ├── KeyNotFound              KEY_NOT_FOUND
    │   └── InvalidSignature         INVALID_SIGNATURE
    ├── AccessDenied                 ACCESS_DENIED
    ├── CurrencyNotSupport           CURRENCY_NOT_SUPPORT
    ├── RepeatReqInconsistent        REPEAT_REQ_INCONSISTENT
    ├── OrderIsCanceled              ORDER_IS_CANCELED
    ├── OrderIsClosed                ORDER_IS_CLOSED
    ├── OrderNotExist                ORDER_NOT_EXIST
    ├── OrderStatusInvalid           ORDER_STATUS_INVALID
    ├── CancelWindowExceed           CANCEL_WINDOW_EXCEED
    ├── RefundAmountExceed           REFUND_AMOUNT_EXCEED
    ├── RefundWindowExceed           REFUND_WINDOW_EXCEED
    ├── MerchantBalanceNotEnough     MERCHANT_BALANCE_NOT_ENOUGH
    ├── MerchantNotRegistered        MERCHANT_NOT_REGISTERED
    ├── RepeatRegistration           REPEAT_REGISTRATION
    ├── RegistrationUnderReview      REGISTRATION_UNDER_REVIEW
    ├── RecordNotFound               RECORD_NOT_FOUND
    ├── PaymentInProcess             PAYMENT_IN_PROCESS (U)
    └── UnknownException             UNKNOWN_EXCEPTION (U)

Codes that end a payment (``USER_BALANCE_NOT_ENOUGH``, ``RISK_REJECT``...) are not raised:
they are stored on the payment and replayed, so they live in ``CATALOGUE`` only.
"""

from __future__ import annotations

from typing import ClassVar, Literal

ResultStatus = Literal["S", "F", "U"]

# code -> (status, message). Messages paraphrase the docs' meanings (spec §4.1-4.5).
CATALOGUE: dict[str, tuple[ResultStatus, str]] = {
    "SUCCESS": ("S", "success"),
    "ACCESS_DENIED": ("F", "Access is denied."),
    "INVALID_API": ("F", "The called API is invalid or not active."),
    "CLIENT_INVALID": ("F", "The client ID is invalid or restricted."),
    "CURRENCY_NOT_SUPPORT": ("F", "The currency is not supported."),
    "EXPIRED_CODE": ("F", "The payment code is expired. The buyer needs to refresh it."),
    "INVALID_CONTRACT": ("F", "The parameters do not match the contract."),
    "INVALID_MERCHANT_STATUS": ("F", "The merchant status is abnormal."),
    "INVALID_PAYMENT_CODE": ("F", "The payment code cannot be accepted."),
    "INVALID_SIGNATURE": ("F", "The signature is invalid."),
    "KEY_NOT_FOUND": ("F", "The key is not found."),
    "MEDIA_TYPE_NOT_ACCEPTABLE": ("F", "The media type is not acceptable."),
    "MERCHANT_KYB_NOT_QUALIFIED": ("F", "The merchant's KYB is not qualified."),
    "MERCHANT_NOT_REGISTERED": ("F", "The merchant is not registered."),
    "METHOD_NOT_SUPPORTED": ("F", "The HTTP method is not supported."),
    "NO_INTERFACE_DEF": ("F", "The API is not defined."),
    "NO_PAY_OPTIONS": ("F", "No payment option is available for this transaction."),
    "ORDER_IS_CANCELED": ("F", "The order is cancelled."),
    "ORDER_IS_CLOSED": ("F", "The order is closed."),
    "ORDER_NOT_EXIST": ("F", "The order does not exist."),
    "ORDER_STATUS_INVALID": ("F", "The order status is invalid for this operation."),
    "PARAM_ILLEGAL": ("F", "Illegal parameters."),
    "PAYMENT_AMOUNT_EXCEED_LIMIT": ("F", "The payment amount exceeds the limit."),
    "PAYMENT_COUNT_EXCEED_LIMIT": ("F", "The payment count exceeds the limit."),
    "PAYMENT_NOT_QUALIFIED": ("F", "The merchant is not qualified for this payment."),
    "PROCESS_FAIL": ("F", "A general business failure occurred. Do not retry."),
    "REPEAT_REQ_INCONSISTENT": ("F", "The repeated request is inconsistent."),
    "RISK_REJECT": ("F", "The request is rejected by risk control."),
    "SYSTEM_ERROR": ("F", "A system error occurred."),
    "USER_AMOUNT_EXCEED_LIMIT": ("F", "The amount exceeds the buyer's limit."),
    "USER_BALANCE_NOT_ENOUGH": ("F", "The buyer's balance is not enough."),
    "USER_KYC_NOT_QUALIFIED": ("F", "The buyer's KYC is not qualified."),
    "USER_NOT_EXIST": ("F", "The wallet user does not exist."),
    "USER_PAYMENT_VERIFICATION_FAILED": ("F", "The buyer's payment verification failed."),
    "USER_STATUS_ABNORMAL": ("F", "The buyer's account status is abnormal."),
    "CANCEL_WINDOW_EXCEED": ("F", "The cancellable period has passed. Refund instead."),
    "MERCHANT_BALANCE_NOT_ENOUGH": ("F", "The merchant's balance is not enough."),
    "MULTIPLE_REFUNDS_NOT_SUPPORTED": ("F", "Multiple refunds are not supported."),
    "REFUND_AMOUNT_EXCEED": ("F", "The total refund amount exceeds the payment amount."),
    "REFUND_WINDOW_EXCEED": ("F", "The refundable period has passed."),
    "REFUND_NOT_SUPPORTED": ("F", "Refund is not supported."),
    "PARTIAL_REFUND_NOT_SUPPORTED": ("F", "Partial refund is not supported."),
    # Registration family (spec §4.7).
    "REPEAT_REGISTRATION": ("F", "The merchant or store is already registered."),
    "REGISTRATION_UNDER_REVIEW": ("F", "A registration of this merchant or store is under review."),
    "RECORD_NOT_FOUND": (
        "F",
        "No registration record is found for the given referenceMerchantId and/or referenceStoreId.",
    ),
    "PAYMENT_IN_PROCESS": ("U", "The payment is being processed."),
    "REFUND_IN_PROCESS": ("U", "The refund is being processed."),
    "REQUEST_TRAFFIC_EXCEED_LIMIT": ("U", "The request traffic exceeds the limit."),
    "UNKNOWN_EXCEPTION": ("U", "API failed due to unknown reason."),
}


def status_of(code: str) -> ResultStatus:
    return CATALOGUE.get(code, ("F", ""))[0]


def message_of(code: str) -> str:
    return CATALOGUE.get(code, ("F", code))[1]


class GatewayError(Exception):
    """A result the gateway answers instead of the happy path (always HTTP 200)."""

    code: ClassVar[str] = "PROCESS_FAIL"

    def __init__(self, message: str | None = None, *, diagnosis: str | None = None) -> None:
        self.message = message or message_of(self.code)
        # Why the emulator refused, for the journal and the diagnosis header (never on the wire
        # body, so SDKs see exactly what the real gateway would send).
        self.diagnosis = diagnosis or self.message
        super().__init__(f"{self.code}: {self.message}")

    @property
    def status(self) -> ResultStatus:
        return status_of(self.code)

    def result(self) -> dict[str, str]:
        return {"resultCode": self.code, "resultStatus": self.status, "resultMessage": self.message}


class ForcedResult(GatewayError):
    """A result code chosen from outside (error-scenario simulation)."""

    def __init__(self, code: str, status: ResultStatus | None = None) -> None:
        self._code = code
        self._status: ResultStatus = status or status_of(code)
        super().__init__(message_of(code), diagnosis=f"forced result {code}")

    @property
    def status(self) -> ResultStatus:
        return self._status

    def result(self) -> dict[str, str]:
        return {
            "resultCode": self._code,
            "resultStatus": self._status,
            "resultMessage": self.message,
        }


class ParamIllegal(GatewayError):
    code = "PARAM_ILLEGAL"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Illegal parameter: {field} {problem}.")
        self.field = field


class NoInterfaceDef(GatewayError):
    code = "NO_INTERFACE_DEF"


class MethodNotSupported(GatewayError):
    code = "METHOD_NOT_SUPPORTED"


class MediaTypeNotAcceptable(GatewayError):
    code = "MEDIA_TYPE_NOT_ACCEPTABLE"


class AuthError(GatewayError):
    """Authentication failures; ``unsigned_auth_errors`` answers these without a signature."""


class ClientInvalid(AuthError):
    code = "CLIENT_INVALID"


class KeyNotFound(AuthError):
    code = "KEY_NOT_FOUND"


class InvalidSignature(AuthError):
    code = "INVALID_SIGNATURE"


class AccessDenied(GatewayError):
    code = "ACCESS_DENIED"


class CurrencyNotSupport(GatewayError):
    code = "CURRENCY_NOT_SUPPORT"


class RepeatReqInconsistent(GatewayError):
    code = "REPEAT_REQ_INCONSISTENT"


class OrderIsCanceled(GatewayError):
    code = "ORDER_IS_CANCELED"


class OrderIsClosed(GatewayError):
    code = "ORDER_IS_CLOSED"


class OrderNotExist(GatewayError):
    code = "ORDER_NOT_EXIST"


class OrderStatusInvalid(GatewayError):
    code = "ORDER_STATUS_INVALID"


class CancelWindowExceed(GatewayError):
    code = "CANCEL_WINDOW_EXCEED"


class RefundAmountExceed(GatewayError):
    code = "REFUND_AMOUNT_EXCEED"


class RefundWindowExceed(GatewayError):
    code = "REFUND_WINDOW_EXCEED"


class MerchantBalanceNotEnough(GatewayError):
    code = "MERCHANT_BALANCE_NOT_ENOUGH"


class MerchantNotRegistered(GatewayError):
    code = "MERCHANT_NOT_REGISTERED"


class RepeatRegistration(GatewayError):
    code = "REPEAT_REGISTRATION"


class RegistrationUnderReview(GatewayError):
    code = "REGISTRATION_UNDER_REVIEW"


class RecordNotFound(GatewayError):
    code = "RECORD_NOT_FOUND"


class PaymentInProcess(GatewayError):
    code = "PAYMENT_IN_PROCESS"


class UnknownException(GatewayError):
    code = "UNKNOWN_EXCEPTION"


class ControlError(Exception):
    """A refused control-API call (rendered as a 4xx JSON error, never a gateway envelope)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
