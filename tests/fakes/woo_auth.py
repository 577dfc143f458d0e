"""Authentication of the fake WooCommerce, after WC_REST_Authentication
(reference woocommerce-api.md §3).

- HTTPS: query consumer_key/consumer_secret first, then HTTP Basic. An unknown
  key leaves the request anonymous; a known key with a wrong secret is a 401.
- Then (HTTP, or HTTPS without a Basic/query user): OAuth 1.0a one-legged,
  HMAC-SHA1 or HMAC-SHA256, key "consumer_secret&", signed over the query and
  form parameters plus the oauth_* header parameters, timestamp within ±15 min,
  nonce unused within 15 min.
- Basic over plain HTTP is ignored: the request stays anonymous.
- A read-only key on POST/PUT/PATCH/DELETE is a 401.
"""
import base64
import hashlib
import hmac
import time
from urllib.parse import quote, unquote

from woo_store import WooError

OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature",
                "oauth_signature_method")
WINDOW = 15 * 60


def rfc3986(s):
    return quote(str(s), safe="~")


def auth_error(message, basic=False):
    e = WooError("woocommerce_rest_authentication_error", message, 401)
    if basic:
        e.headers = {"WWW-Authenticate": 'Basic realm="WooCommerce API. Use a consumer key in the '
                                          'username field and a consumer secret in the password field."'}
    return e


def _php_params(pairs):
    """Flatten query/form pairs the way PHP fills $_GET: last value wins,
    `k[]` collects a list."""
    out = {}
    for k, v in pairs:
        if k.endswith("[]"):
            out.setdefault(k[:-2], [])
            if isinstance(out[k[:-2]], list):
                out[k[:-2]].append(v)
        else:
            out[k] = v
    return out


def parse_oauth_header(value):
    params = {}
    for part in value.strip()[6:].split(","):
        if "=" not in part:
            continue
        k, v = part.strip().split("=", 1)
        params[k.strip()] = unquote(v.strip().strip('"'))
    return params


def signature_base(method, base_url, params):
    """WC check_oauth_signature(): METHOD & enc(url) & enc(sorted k=v pairs)."""
    pairs = []
    for k in sorted(params):
        v = params[k]
        if isinstance(v, list):
            for i, item in enumerate(v):
                pairs.append(rfc3986("%s[%d]" % (k, i)) + "=" + rfc3986(item))
        else:
            pairs.append(rfc3986(k) + "=" + rfc3986(v))
    return "&".join([method.upper(), rfc3986(base_url), rfc3986("&".join(pairs))])


class Authenticator:
    def __init__(self, keys, site_url=None):
        self.keys = keys            # ck -> {"secret": cs, "permissions": "read_write"|"read"}
        self.site_url = site_url
        self.nonces = {}            # ck -> {nonce: timestamp}

    def reset(self):
        self.nonces = {}

    def authenticate(self, req):
        """Return (key or None, method, key_id); raise WooError on a failure."""
        if req.tls:
            ck, cs, method = req.q("consumer_key"), req.q("consumer_secret"), "query"
            if not (ck and cs):
                ck = cs = None
                auth = req.headers.get("Authorization") or ""
                if auth[:6].lower() == "basic ":
                    try:
                        user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                    except (ValueError, UnicodeDecodeError):
                        user = pw = ""
                    if user and pw:
                        ck, cs, method = user, pw, "basic"
            if ck and cs:
                key = self.keys.get(ck)
                if key is not None:
                    if not hmac.compare_digest(cs.encode(), key["secret"].encode()):
                        raise auth_error("Consumer secret is invalid.", basic=True)
                    return key, method, ck
        return self._oauth(req)

    def _oauth(self, req):
        pairs = [(k, v) for k, vals in req.query.items() for v in vals]
        params = _php_params(pairs)
        if isinstance(req.form, dict):
            params.update(req.form)
        auth = req.headers.get("Authorization") or ""
        if auth[:6].lower() == "oauth ":
            params.update(parse_oauth_header(auth))
        present = [p for p in OAUTH_PARAMS if params.get(p)]
        if not present:
            return None, None, None
        missing = [p for p in OAUTH_PARAMS if not params.get(p)]
        if missing:
            raise WooError("woocommerce_rest_authentication_missing_parameter",
                           "Missing OAuth parameter%s %s" % ("s" if len(missing) > 1 else "", ", ".join(missing)),
                           401)
        ck = params["oauth_consumer_key"]
        key = self.keys.get(ck)
        if key is None:
            raise auth_error("Consumer key is invalid.")
        sig_method = params["oauth_signature_method"]
        if sig_method not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise auth_error("Invalid signature - signature method is invalid.")
        given = unquote(str(params.pop("oauth_signature")).replace(" ", "+"))
        scheme = "https" if req.tls else "http"
        site = self.site_url or "%s://%s" % (scheme, req.headers.get("Host", "127.0.0.1"))
        base = signature_base(req.method, site.rstrip("/") + req.path, params)
        algo = hashlib.sha1 if sig_method == "HMAC-SHA1" else hashlib.sha256
        want = base64.b64encode(hmac.new((key["secret"] + "&").encode(), base.encode(), algo).digest()).decode()
        if not hmac.compare_digest(want.encode(), given.encode()):
            raise auth_error("Invalid signature - provided signature does not match.")
        try:
            ts = int(params["oauth_timestamp"])
        except ValueError:
            ts = -10 ** 12
        now = time.time()
        if ts < now - WINDOW or ts > now + WINDOW:
            raise auth_error("Invalid timestamp.")
        seen = self.nonces.setdefault(ck, {})
        for n in [n for n, t in seen.items() if t < now - WINDOW]:
            del seen[n]
        if params["oauth_nonce"] in seen:
            raise auth_error("Invalid nonce - nonce has already been used.")
        seen[params["oauth_nonce"]] = now
        return key, "oauth1", ck

    @staticmethod
    def check_permissions(key, method):
        if key["permissions"] == "read" and method not in ("GET", "HEAD"):
            raise auth_error("The API key provided does not have write permissions.")
        if key["permissions"] == "write" and method in ("GET", "HEAD"):
            raise auth_error("The API key provided does not have read permissions.")
