"""Field rules of the fake Meta catalog (items_batch `data` records).

Pure functions, no state: synchronous checks that go into validation_status,
and the required-field check that runs when a batch handle finishes.
The facts: Meta's item fields, required fields and limits (README.md).
"""
import re
from urllib.parse import urlsplit

# ISO 4217 minor units. Anything not listed is an unknown currency.
_MINOR_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_MINOR_3 = "BHD IQD JOD KWD LYD OMR TND"
_MINOR_4 = "CLF UYW"
_MINOR_2 = ("AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL "
            "BSD BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP "
            "ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS "
            "INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
            "MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN "
            "PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD "
            "SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES "
            "WST XCD YER ZAR ZMW ZWL")
CURRENCY_MINOR_UNITS = {}
for _codes, _units in ((_MINOR_0, 0), (_MINOR_2, 2), (_MINOR_3, 3), (_MINOR_4, 4)):
    for _c in _codes.split():
        CURRENCY_MINOR_UNITS[_c] = _units

AVAILABILITY = ("in stock", "out of stock", "preorder", "available for order",
                "discontinued", "pending", "mark_as_sold", "mark_as_expired")
CONDITION = ("new", "refurbished", "used", "used_like_new", "used_good", "used_fair",
             "cpo", "open_box_new")
VISIBILITY = ("published", "hidden", "staging")

MAX_RETAILER_ID = 100
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_BRAND = 100
MAX_ADDITIONAL_IMAGES = 20

_PRICE_RE = re.compile(r"^(\d+)(?:\.(\d+))? ([A-Z]{3})$")
_HTML_TAG_RE = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?\s*>|<!--")

# Fields required to create an item, in the order they are reported, with the
# name used in the asynchronous error message. `brand` may be replaced by gtin
# or mpn (reference §2).
REQUIRED_FOR_CREATE = (("title", "Title"), ("description", "Description"),
                       ("availability", "Availability"), ("condition", "Condition"),
                       ("price", "Price"), ("link", "Link"), ("image_link", "Image Link"),
                       ("brand", "Brand"))


def check_price(field, value, allow_empty):
    """Return an error message or None. `value` must be "<amount> <ISO 4217>"
    with no more fraction digits than the currency's minor units."""
    if not isinstance(value, str):
        return ('Invalid %s: expected a string like "9.99 USD", got %s'
                % (field, type(value).__name__))
    if value == "" and allow_empty:
        return None
    m = _PRICE_RE.match(value)
    if not m:
        return ('Invalid %s "%s": expected "<amount> <ISO 4217 currency code>", e.g. "9.99 USD"'
                % (field, value))
    frac, cur = m.group(2) or "", m.group(3)
    if cur not in CURRENCY_MINOR_UNITS:
        return 'Invalid %s "%s": unsupported currency code %s' % (field, value, cur)
    units = CURRENCY_MINOR_UNITS[cur]
    if len(frac) > units:
        return ('Invalid %s "%s": %s allows at most %d decimal place%s'
                % (field, value, cur, units, "" if units == 1 else "s"))
    return None


def is_http_url(value):
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_string(data, field, errors, max_len=None):
    if field not in data:
        return None
    value = data[field]
    if not isinstance(value, str):
        errors.append("Invalid %s: must be a string" % field)
        return None
    if max_len is not None and len(value) > max_len:
        errors.append("%s is too long: %d characters, at most %d allowed"
                      % (field, len(value), max_len))
    return value


def _check_enum(data, field, allowed, errors):
    value = _check_string(data, field, errors)
    if value is not None and value not in allowed:
        errors.append('Invalid %s "%s": must be one of %s'
                      % (field, value, ", ".join('"%s"' % a for a in allowed)))


def validate_record_fields(method, data):
    """Synchronous per-record checks. Returns a list of messages (empty = ok).
    `data` is the record's `data` object; `id` has been checked already."""
    errors = []
    if "retailer_id" in data:
        errors.append("retailer_id is not allowed inside data; the retailer id goes in data.id")
    if method == "DELETE":
        return errors
    for field in ("price", "sale_price"):
        if field in data:
            err = check_price(field, data[field], allow_empty=(field == "sale_price"))
            if err:
                errors.append(err)
    _check_enum(data, "availability", AVAILABILITY, errors)
    _check_enum(data, "condition", CONDITION, errors)
    _check_enum(data, "visibility", VISIBILITY, errors)
    _check_string(data, "title", errors, MAX_TITLE)
    _check_string(data, "brand", errors, MAX_BRAND)
    desc = _check_string(data, "description", errors, MAX_DESCRIPTION)
    if desc is not None and _HTML_TAG_RE.search(desc):
        errors.append("description must be plain text: HTML tags are not allowed "
                      "(use rich_text_description for HTML)")
    for field in ("link", "image_link"):
        if field in data and not is_http_url(data[field]):
            errors.append("Invalid %s %r: must be an absolute http(s) URL" % (field, data[field]))
    if "additional_image_link" in data:
        extra = data["additional_image_link"]
        if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
            errors.append("Invalid additional_image_link: must be a list of URL strings")
        elif len(extra) > MAX_ADDITIONAL_IMAGES:
            errors.append("Too many additional_image_link values: %d, at most %d allowed"
                          % (len(extra), MAX_ADDITIONAL_IMAGES))
        else:
            for url in extra:
                if not is_http_url(url):
                    errors.append("Invalid additional_image_link %r: must be an absolute http(s) URL" % url)
    for field in ("inventory", "quantity_to_sell_on_facebook"):
        if field in data:
            v = data[field]
            ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or \
                 (isinstance(v, str) and v.isdigit())
            if not ok:
                errors.append("Invalid %s %r: must be a non-negative integer" % (field, v))
    return errors


# Graph API versions and the day each stops working (reference §5). A call to
# an expired version is served by the oldest version still usable.
VERSION_ENDS = (("v21.0", "2027-01-21"), ("v22.0", "2027-05-20"), ("v23.0", "2027-10-08"),
                ("v24.0", "2028-02-18"), ("v25.0", "2028-07-29"), ("v26.0", None))
CURRENT_VERSION = "v25.0"


def served_version(version, today):
    """The version that answers a call to `version` on `today` (YYYY-MM-DD):
    itself while it works, else the oldest one still working; None when the
    version is not in the table."""
    names = [v for v, _ in VERSION_ENDS]
    if version not in names:
        return None
    for v, end in VERSION_ENDS[names.index(version):]:
        if end is None or today < end:
            return v
    return None


def missing_required(fields, require_image):
    """Display name of the first required field missing from `fields`, or None."""
    for key, label in REQUIRED_FOR_CREATE:
        if key == "image_link" and not require_image:
            continue
        if key == "brand" and any(fields.get(k) for k in ("brand", "gtin", "mpn")):
            continue
        v = fields.get(key)
        if v is None or v == "" or v == []:
            return label
    return None


def graph_product_view(item):
    """The stored item in Graph `/products` vocabulary (reference §2 table)."""
    f = item["fields"]
    out = {"id": item["item_id"], "retailer_id": item["retailer_id"]}
    mapping = (("title", "name"), ("description", "description"), ("availability", "availability"),
               ("condition", "condition"), ("link", "url"), ("image_link", "image_url"),
               ("additional_image_link", "additional_image_urls"), ("brand", "brand"),
               ("visibility", "visibility"), ("item_group_id", "retailer_product_group_id"),
               ("google_product_category", "category"), ("price", "price"),
               ("sale_price", "sale_price"), ("gtin", "gtin"), ("mpn", "mpn"),
               ("sale_price_effective_date", "sale_price_effective_date"))
    for src, dst in mapping:
        if src in f:
            out[dst] = f[src]
    if isinstance(f.get("price"), str) and " " in f["price"]:
        out["currency"] = f["price"].rsplit(" ", 1)[1]
    inv = f.get("quantity_to_sell_on_facebook", f.get("inventory"))
    if inv is not None:
        out["inventory"] = int(inv)
    out["updated_time"] = item["updated_time"]
    return out


PRODUCT_FIELDS = ("id", "retailer_id", "name", "description", "availability", "condition",
                  "url", "image_url", "additional_image_urls", "brand", "visibility",
                  "retailer_product_group_id", "category", "price", "sale_price", "currency",
                  "gtin", "mpn", "sale_price_effective_date", "inventory", "updated_time")
