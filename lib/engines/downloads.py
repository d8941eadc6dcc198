"""Model outputs are fetched only from where Replicate serves them.

A prediction names its output by URL, and that URL is the model's to choose: a community model (or
a compromised one) could point it at an internal address, a cloud metadata endpoint or any host on
the internet, and the function would fetch it. So an output is downloaded only

- over https from an allowed host or one of its subdomains (`config.replicate_output_hosts()`:
  `replicate.delivery` by default, where Replicate serves output files), on the default port, with
  no user name or password in the URL and no IP literal; or
- from the exact origin (scheme, host, port) of REPLICATE_BASE_URL, the API itself (the loopback
  fake in tests serves outputs there over http); or
- inline, as a base64 `data:` URL.

Redirects are followed by hand, at most MAX_REDIRECTS, and every hop is checked the same way; a URL
or hop that fails the check is an UpstreamError before anything is sent to it. The download is
capped at MAX_OUTPUT_BYTES and never carries the API token (a separate HTTP client).
"""

import base64
import binascii
import ipaddress
import logging

import httpx

from lib import config
from lib.errors import UpstreamError

log = logging.getLogger("imgmend.replicate")

DOWNLOAD_TIMEOUT = httpx.Timeout(15.0, connect=5.0, pool=5.0)
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
UNUSABLE = "The AI model returned an unusable result."
NOT_FETCHED = "The AI model's result could not be fetched."


def make_client(transport=None):
    """The HTTP client for outputs: no token, no automatic redirects (each hop is checked here)."""
    return httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False, transport=transport)


def _port(url):
    return url.port or {"https": 443, "http": 80}.get(url.scheme)


def _is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def allowed(url, hosts=None, base_url=None):
    """Whether an output may be fetched from `url` (a string); see the module docstring."""
    if hosts is None:
        hosts = config.replicate_output_hosts()
    if base_url is None:
        base_url = config.env("REPLICATE_BASE_URL", "https://api.replicate.com")
    if not isinstance(url, str) or any(ord(c) < 33 or c == "\\" for c in url):
        return False  # whitespace, control characters and backslashes parse differently everywhere
    try:
        target, base = httpx.URL(url), httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    if target.userinfo or not target.host:
        return False
    host = target.host.lower()
    if (target.scheme, host, _port(target)) == (base.scheme, base.host.lower(), _port(base)) and target.scheme in ("http", "https"):
        return True
    if target.scheme != "https" or _port(target) != 443 or _is_ip(host):
        return False
    return any(host == allowed_host or host.endswith("." + allowed_host) for allowed_host in hosts)


def _where(url):
    """Scheme and host only, for a log line (a path may carry a signed token)."""
    try:
        parsed = httpx.URL(url)
        return f"{parsed.scheme}://{parsed.host}"
    except Exception:  # noqa: BLE001 - only for the log
        return "an unparsable URL"


def decode_data_url(url):
    """The bytes of a base64 `data:` URL output."""
    header, _, payload = url.partition(",")
    if ";base64" not in header or len(payload) > MAX_OUTPUT_BYTES * 4 // 3 + 4:
        raise UpstreamError(UNUSABLE)
    try:
        return base64.b64decode(payload)
    except (binascii.Error, ValueError):
        raise UpstreamError(UNUSABLE) from None


def fetch(http, url):
    """The output's bytes (a bytearray, capped), from a data: URL or an allowed URL, hops checked."""
    if isinstance(url, str) and url.startswith("data:"):
        return decode_data_url(url)
    for _ in range(MAX_REDIRECTS + 1):
        if not allowed(url):
            log.warning("replicate: output at %s refused (not an allowed host)", _where(url))
            raise UpstreamError(UNUSABLE)
        with http.stream("GET", url) as response:
            if response.status_code in REDIRECTS and response.headers.get("Location"):
                try:
                    url = str(response.url.join(response.headers["Location"]))
                except (httpx.InvalidURL, TypeError, ValueError):
                    raise UpstreamError(UNUSABLE) from None
                continue
            if response.status_code != 200:
                log.warning("replicate: output download answered HTTP %s", response.status_code)
                raise UpstreamError(NOT_FETCHED)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_OUTPUT_BYTES:
                raise UpstreamError("The AI model returned an unusably large result.")
            data = bytearray()
            for chunk in response.iter_bytes(64 * 1024):
                data += chunk
                if len(data) > MAX_OUTPUT_BYTES:
                    raise UpstreamError("The AI model returned an unusably large result.")
            return data  # the bytearray itself: a bytes() copy would hold the output twice
    log.warning("replicate: output download redirected more than %s times", MAX_REDIRECTS)
    raise UpstreamError(NOT_FETCHED)
