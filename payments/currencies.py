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


def is_known_currency(code: str) -> bool:
    return code.upper() in _EXPONENT_BY_CODE


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
