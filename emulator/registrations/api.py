"""Gateway operations for merchant registration: request models in, one service call, response body out.

Field names are those the official SDKs send (Python 1.7.1 ``AlipayMerchantRegistration*Request``
with ``MerchantRegistrationInfo``/``RegistrationDetail``); note ``registrationNotifyURL`` in
capitals, ``merchantMCC``/``storeMCC``. Objects keep fields the emulator does not know, so
inquiryRegistrationInfo answers what was registered.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..gateway.operations import Operation
from ..gateway.wire import WireModel, WireStr
from ..sandbox.access import Merchant
from .models import Registration, status_fields
from .service import RegistrationCommand, RegistrationService

Id64 = Annotated[WireStr, Field(min_length=1, max_length=64)]
Text256 = Annotated[WireStr, Field(min_length=1, max_length=256)]
Mcc = Annotated[WireStr, Field(min_length=1, max_length=32)]
ProductCode = Literal["CASHIER_PAYMENT", "AGREEMENT_PAYMENT", "IN_STORE_PAYMENT"]
# Enumerations of the Python SDK 1.7.1 models (attachment_type.py, certificate_type.py,
# contact_type.py, business_type.py): values outside them are PARAM_ILLEGAL (registration page).
AttachmentType = Literal[
    "SIGNATURE_AUTHORIZATION_LETTER",
    "ARTICLES_OF_ASSOCIATION",
    "LOGO",
    "AUTHORIZER_SIGNATURE_CONFIRMATION_LETTER",
    "ASSOCIATION_ARTICLE",
    "FINANCIAL_REPORT",
    "OWNERSHIP_STRUCTURE_PIC",
    "ADDRESS_PROOF",
    "UBO_PROVE",
    "ENTERPRISE_REGISTRATION",
    "LICENSE_INFO",
    "ID_CARD",
    "PASSPORT",
    "DRIVING_LICENSE",
    "CPF",
    "CNPJ",
]
CertificateType = Literal[
    "ENTERPRISE_REGISTRATION", "LICENSE_INFO", "ID_CARD", "PASSPORT", "DRIVING_LICENSE", "CPF", "CNPJ"
]
ContactType = Literal["EMAIL", "PHONE_NO", "COMMERCIAL_PHONE_NO"]
BusinessType = Literal["1", "2", "3", "4", "5"]


class OpenModel(WireModel):
    """Unknown fields are kept (and echoed by inquiryRegistrationInfo), not dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class AddressIn(OpenModel):
    region: Annotated[WireStr, Field(max_length=2)] | None = None
    state: Annotated[WireStr, Field(max_length=8)] | None = None
    city: Annotated[WireStr, Field(max_length=32)] | None = None
    address1: Annotated[WireStr, Field(max_length=256)] | None = None
    address2: Annotated[WireStr, Field(max_length=256)] | None = None
    zip_code: Annotated[WireStr, Field(max_length=32)] | None = None


class LogoIn(OpenModel):
    logo_name: Text256 | None = None
    logo_url: Annotated[WireStr, Field(max_length=2048)] | None = None


class WebSiteIn(OpenModel):
    name: Text256 | None = None
    url: Annotated[WireStr, Field(max_length=2048)] | None = None
    desc: Text256 | None = None
    type: Annotated[WireStr, Field(max_length=32)] | None = None


class AttachmentIn(OpenModel):
    attachment_type: AttachmentType
    file: Annotated[WireStr, Field(max_length=4096)] | None = None
    attachment_name: Text256 | None = None
    file_key: Annotated[WireStr, Field(max_length=256)] | None = None


class ContactInfoIn(OpenModel):
    contact_no: Annotated[WireStr, Field(min_length=1, max_length=256)]
    contact_type: ContactType


class RegistrationDetailIn(OpenModel):
    legal_name: Text256 | None = None
    attachments: list[AttachmentIn] | None = None
    # The docs give an array; the Python SDK model holds one ContactInfo. Both are accepted.
    contact_info: list[ContactInfoIn] | ContactInfoIn | None = None
    registration_type: CertificateType | None = None
    registration_no: Id64 | None = None
    registration_address: AddressIn | None = None
    business_type: BusinessType | None = None
    registration_effective_date: Annotated[WireStr, Field(max_length=64)] | None = None
    registration_expire_date: Annotated[WireStr, Field(max_length=64)] | None = None


class MerchantInfoIn(OpenModel):
    reference_merchant_id: Id64
    merchant_mcc: Annotated[Mcc, Field(alias="merchantMCC")]
    merchant_display_name: Text256 | None = None
    logo: LogoIn | None = None
    websites: list[WebSiteIn] | None = None
    merchant_address: AddressIn | None = None
    registration_detail: RegistrationDetailIn | None = None


class StoreInfoIn(OpenModel):
    # inquiryRegistrationStatus documents referenceStoreId as at most 32 characters.
    reference_store_id: Annotated[WireStr, Field(min_length=1, max_length=32)]
    store_name: Text256
    store_mcc: Annotated[Mcc, Field(alias="storeMCC")]
    store_display_name: Text256 | None = None
    store_address: AddressIn | None = None
    store_phone_no: Annotated[WireStr, Field(max_length=32)] | None = None


class RegistrationRequest(WireModel):
    registration_request_id: Id64
    product_codes: Annotated[list[ProductCode], Field(min_length=1)]
    merchant_info: MerchantInfoIn
    store_info: StoreInfoIn | None = None
    # The Python SDK writes registrationNotifyURL, the docs registrationNotifyUrl.
    registration_notify_url: Annotated[WireStr, Field(max_length=2048)] | None = Field(
        default=None, validation_alias=AliasChoices("registrationNotifyURL", "registrationNotifyUrl")
    )
    pass_through_info: Annotated[WireStr, Field(max_length=2048)] | None = None

    @field_validator("registration_notify_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v


class RegistrationLookup(WireModel):
    registration_request_id: Id64 | None = None
    reference_merchant_id: Id64 | None = None
    reference_store_id: Id64 | None = None

    @model_validator(mode="after")
    def _one_key(self) -> RegistrationLookup:
        if not (self.registration_request_id or self.reference_merchant_id or self.reference_store_id):
            raise ValueError("registrationRequestId, referenceMerchantId or referenceStoreId is required")
        return self


def registration_command(req: RegistrationRequest) -> RegistrationCommand:
    info = req.merchant_info
    names = [info.merchant_display_name]
    if info.registration_detail is not None:
        names.append(info.registration_detail.legal_name)
    store = req.store_info
    return RegistrationCommand(
        registration_request_id=req.registration_request_id,
        product_codes=tuple(dict.fromkeys(req.product_codes)),
        reference_merchant_id=info.reference_merchant_id,
        merchant_info=info.model_dump(by_alias=True, exclude_none=True),
        merchant_names=tuple(n for n in names if n),
        reference_store_id=store.reference_store_id if store else None,
        store_name=store.store_name if store else None,
        store_info=store.model_dump(by_alias=True, exclude_none=True) if store else None,
        notify_url=req.registration_notify_url,
        pass_through_info=req.pass_through_info,
    )


SUCCESS = {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}


def registration_body(r: Registration) -> dict[str, Any]:
    body: dict[str, Any] = {"result": dict(SUCCESS)}
    if r.pass_through_info is not None:
        body["passThroughInfo"] = r.pass_through_info
    return body


def status_body(r: Registration, *, psps: tuple[str, ...]) -> dict[str, Any]:
    return {"result": dict(SUCCESS), **status_fields(r, psps=psps)}


def info_body(r: Registration) -> dict[str, Any]:
    body: dict[str, Any] = {
        "result": dict(SUCCESS),
        "merchantInfo": json.loads(r.merchant_info),
        "productCodes": r.product_codes.split(","),
    }
    if r.store_info:
        body["storeInfo"] = json.loads(r.store_info)
    return body


def operations(registrations: RegistrationService) -> list[Operation]:
    def registration(merchant: Merchant, req: RegistrationRequest) -> dict[str, Any]:
        return registration_body(registrations.registration(merchant, registration_command(req)))

    def _find(merchant: Merchant, req: RegistrationLookup) -> Registration:
        return registrations.inquiry_registration(
            merchant,
            registration_request_id=req.registration_request_id,
            reference_merchant_id=req.reference_merchant_id,
            reference_store_id=req.reference_store_id,
        )

    def inquiry_status(merchant: Merchant, req: RegistrationLookup) -> dict[str, Any]:
        return status_body(_find(merchant, req), psps=registrations.psps)

    def inquiry_info(merchant: Merchant, req: RegistrationLookup) -> dict[str, Any]:
        return info_body(_find(merchant, req))

    return [
        Operation("merchants/registration", "registration", RegistrationRequest, registration),
        Operation(
            "merchants/inquiryRegistrationStatus",
            "inquiryRegistrationStatus",
            RegistrationLookup,
            inquiry_status,
        ),
        Operation(
            "merchants/inquiryRegistrationInfo", "inquiryRegistrationInfo", RegistrationLookup, inquiry_info
        ),
    ]
