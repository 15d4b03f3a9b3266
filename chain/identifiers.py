"""Identifiers the network agrees on: credit codes and canonical invoice keys.

The invoice key is the receivable's on-chain id. It hashes what makes an invoice the same invoice
(seller, buyer, number, amount, issue date), never the file: a re-scanned PDF is the same invoice.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import NewType

from eth_abi import encode as abi_encode
from eth_utils import keccak

CreditCode = NewType("CreditCode", str)
InvoiceKey = NewType("InvoiceKey", int)

# GB 32100-2015: 31 symbols (no I, O, Z, S, V), a weighted mod-31 check character.
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_KEY_DOMAIN = "scfnet.invoice.v1"


PART_ID_FLAG = 1 << 255


def part_id(parent_id: int, index: int) -> int:
    """The id the Receivables contract gives part `index` of a split of `parent_id`."""
    return (
        int.from_bytes(keccak(abi_encode(["uint256", "uint256"], [parent_id, index])), "big") | PART_ID_FLAG
    )


class InvalidIdentifier(ValueError):
    """An identifier does not have the form the network requires."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def uscc_check_char(first17: str) -> str:
    """Return the check character for the first 17 characters of a unified social credit code."""
    total = sum(_USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARSET[(31 - total % 31) % 31]


def parse_credit_code(raw: str) -> CreditCode:
    """Validate an 18-character unified social credit code, check character included."""
    code = raw.strip().upper()
    if not _USCC_RE.match(code):
        raise InvalidIdentifier("invalid_credit_code", f"not an 18-character credit code: {raw!r}")
    if uscc_check_char(code[:17]) != code[17]:
        raise InvalidIdentifier("invalid_credit_code", f"credit code check character is wrong: {raw!r}")
    return CreditCode(code)


def credit_code_bytes32(code: CreditCode) -> bytes:
    """The credit code as the registry stores it: ASCII, right-padded to 32 bytes."""
    return code.encode("ascii").ljust(32, b"\0")


def normalize_invoice_number(raw: str) -> str:
    """Canonical invoice number: upper case, no white space or separators."""
    # NFKC folds full-width forms (ＩＮＶ１００１, common in OCR of Chinese invoices) to ASCII.
    number = re.sub(r"[\s\-_/]", "", unicodedata.normalize("NFKC", raw)).upper()
    # ASCII only after folding: look-alikes NFKC keeps (Cyrillic І, Arabic-Indic digits) would
    # otherwise give the same invoice a second key.
    if not number or not number.isascii() or not number.isalnum() or len(number) > 40:
        raise InvalidIdentifier("invalid_invoice_number", f"not an invoice number: {raw!r}")
    return number


_CST = dt.timezone(dt.timedelta(hours=8))


def _china_date(value: dt.date) -> dt.date:
    """The calendar date in China Standard Time: an aware datetime is converted, a date is taken as is."""
    if isinstance(value, dt.datetime):
        return (value.astimezone(_CST) if value.tzinfo else value).date()
    return value


def invoice_key(
    *,
    seller: CreditCode,
    buyer: CreditCode,
    invoice_number: str,
    amount_minor: int,
    issue_date: dt.date,
) -> InvoiceKey:
    """The canonical dedupe key of an invoice, which is also its receivable id on chain."""
    if amount_minor <= 0:
        raise InvalidIdentifier("invalid_amount", "an invoice amount must be positive")
    encoded = abi_encode(
        ["string", "bytes32", "bytes32", "string", "uint256", "string"],
        [
            _KEY_DOMAIN,
            credit_code_bytes32(parse_credit_code(seller)),
            credit_code_bytes32(parse_credit_code(buyer)),
            normalize_invoice_number(invoice_number),
            amount_minor,
            _china_date(issue_date).isoformat(),
        ],
    )
    # The top bit is reserved on chain for split parts' ids.
    return InvoiceKey(int.from_bytes(keccak(encoded), "big") >> 1)


def lot_id(reference: str) -> bytes:
    """The on-chain id of the goods lot a warehouse calls `reference` (e.g. "LOT-7").

    One rule for the API, the simulator and the tools, so that a lot registered through one is
    found by the others under the same reference.
    """
    return keccak(text=f"lot:{reference}")
