"""ISO 4217 currencies and their minor-unit exponents (JPY 0, USD 2, KWD 3)."""

# Active ISO 4217 codes (fund and precious-metal codes left out). Written out rather than
# pulled from a package: pycountry carries no exponents and the table changes rarely.
_EXPONENT_BY_CODE: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
    **dict.fromkeys(
        """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN
        BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP
        GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
        KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
        NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD
        SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS
        VED VES WST XCD XCG YER ZAR ZMW ZWG""".split(),
        2,
    ),
}

# Stripe's per-charge ceiling, in minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MAX_AMOUNT = 99_999_999


# Stripe's minimum charge per currency, in minor units; a smaller charge fails at Stripe.
# Currencies not listed have no minimum here (Stripe converts them to about 0.50 USD, a
# rate we cannot know). https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
MIN_AMOUNT_BY_CODE: dict[str, int] = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50,
    "CZK": 1500, "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50,
    "JPY": 50, "MXN": 1000, "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200,
    "SEK": 300, "SGD": 50, "THB": 1000,
}  # fmt: skip


def normalized_code(code: str) -> str | None:
    """The upper-case ISO 4217 code, or None; only ASCII folds (U+017F in "usd" is no "s")."""
    if not (code.isascii() and code.isalpha()):
        return None
    upper = code.upper()
    return upper if upper in _EXPONENT_BY_CODE else None


def minimum_amount(code: str) -> int:
    """The smallest charge Stripe takes in this currency, in minor units (1 when unlisted)."""
    return MIN_AMOUNT_BY_CODE.get(code.upper(), 1)


def minor_unit_exponent(code: str) -> int:
    """Digits after the decimal point: an amount of 1 JPY is 1, of 1 USD is 100."""
    return _EXPONENT_BY_CODE[code.upper()]


def format_amount(amount: int, code: str) -> str:
    """Human-readable money for emails and the admin, e.g. '12.50 USD', '500 JPY'."""
    exponent = minor_unit_exponent(code)
    if exponent == 0:
        return f"{amount} {code.upper()}"
    major, minor = divmod(amount, 10**exponent)
    return f"{major}.{minor:0{exponent}d} {code.upper()}"
