"""ISO 4217 currencies with Stripe's decimal rules and minimum charge amounts."""

# Active ISO 4217 codes, less precious metals, test and bond-market units (XAU, XTS, ...).
ISO_4217 = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob bov brl bsd
    btn bwp byn bzd cad cdf che chf chw clf clp cny cop cou crc cuc cup cve czk djf dkk dop
    dzd egp ern etb eur fjd fkp gbp gel ghs gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr
    iqd irr isk jmd jod jpy kes kgs khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad
    mdl mga mkd mmk mnt mop mru mur mvr mwk mxn mxv myr mzn nad ngn nio nok npr nzd omr pab
    pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sdg sek sgd shp sle sll sos srd
    ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah ugx usd usn uyi uyu uyw uzs
    ved ves vnd vuv wst xaf xcd xcg xof xpf yer zar zmw zwg zwl
    """.split()
)

# Stripe's zero-decimal list: https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())

# https://docs.stripe.com/currencies#three-decimal
THREE_DECIMAL = frozenset("bhd iqd jod kwd lyd omr tnd".split())

# Minimum charge amounts in minor units: https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
# Currencies not listed use DEFAULT_MINIMUM_CHARGE (Stripe converts them to about $0.50).
MINIMUM_CHARGE = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
DEFAULT_MINIMUM_CHARGE = 50

# Stripe's eight-digit ceiling on any charge amount.
MAXIMUM_AMOUNT = 99_999_999

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩"}


def normalize(code: str) -> str | None:
    """The lower-case ISO code Stripe answers with, or None when it is not a currency."""
    lowered = code.strip().lower()
    return lowered if lowered in ISO_4217 else None


def exponent(code: str) -> int:
    """Digits after the decimal point in the minor unit Stripe counts amounts in."""
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def minimum_charge(code: str) -> int:
    return MINIMUM_CHARGE.get(code, DEFAULT_MINIMUM_CHARGE)


def format_amount(amount: int, code: str) -> str:
    """Render minor units the way Stripe's error messages do, e.g. `$0.50`, `€12.00`, `¥50`."""
    digits = exponent(code)
    major = f"{amount / 10**digits:,.{digits}f}"
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{major}" if symbol else f"{code.upper()} {major}"
