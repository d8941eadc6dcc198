"""Raw WSGI requests, well-formed and malformed multipart bodies, and a framing mutator."""

import io

BOUNDARY = b"XyZ-b0undary"
CRLF = b"\r\n"


def environ(body, content_type, *, length="auto", method="POST", chunked=False, query="", headers=None):
    """A WSGI environ for `body` with any Content-Length (or none, or a lie) and content type."""
    env = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": query,
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if content_type is not None:
        env["CONTENT_TYPE"] = content_type
    if chunked:  # what a server that de-chunks (gunicorn, Vercel's runtime) hands the app
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
        env["wsgi.input_terminated"] = True
    elif length == "auto":
        env["CONTENT_LENGTH"] = str(len(body))
    elif length is not None:
        env["CONTENT_LENGTH"] = str(length)
    env.update(headers or {})
    return env


def part(name, payload, filename=None, ctype=None, extra=b""):
    """One multipart part: headers and payload."""
    disp = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disp += b'; filename="' + filename + b'"'
    head = disp + CRLF + (b"Content-Type: " + ctype + CRLF if ctype else b"") + extra
    return head + CRLF + payload


def form(parts, boundary=BOUNDARY, close=True):
    """A multipart body from parts."""
    body = b"".join(b"--" + boundary + CRLF + p + CRLF for p in parts)
    return body + (b"--" + boundary + b"--" + CRLF if close else b"")


def ctype(boundary=BOUNDARY):
    """The matching Content-Type header value."""
    return "multipart/form-data; boundary=" + boundary.decode("latin-1")


def image_part(data, filename=b"photo.jpg"):
    """The `image` file part."""
    return part(b"image", data, filename, b"image/jpeg")


REQ, IMG, OK, BIG, FMT = "invalid_request", "invalid_image", "ok", "payload_too_large", "unsupported_format"


def malformed(jpeg, cap):
    """[(name, environ kwargs, outcomes)] of malformed requests around a valid small `jpeg`."""
    good = form([image_part(jpeg)])
    big_part = form([image_part(b"\xff\xd8\xff" + b"\0" * cap)])
    many = form([part(b"f%d" % i, b"x") for i in range(5000)] + [image_part(jpeg)])
    nested_inner = form([image_part(jpeg)], boundary=b"inner")
    cases = [
        ("missing boundary", dict(body=good, content_type="multipart/form-data"), {REQ}),
        ("empty boundary", dict(body=good, content_type="multipart/form-data; boundary="), {REQ}),
        ("wrong boundary", dict(body=good, content_type=ctype(b"other")), {REQ}),
        ("boundary of 10k chars", dict(body=form([image_part(jpeg)], b"b" * 10_000), content_type=ctype(b"b" * 10_000)), {REQ, OK}),
        ("boundary with illegal bytes", dict(body=good, content_type='multipart/form-data; boundary="\x00\x01 \r\n"'), {REQ}),
        ("two boundary params", dict(body=good, content_type=ctype() + "; boundary=second"), {REQ, OK}),
        ("no closing delimiter", dict(body=form([image_part(jpeg)], close=False), content_type=ctype()), {REQ, OK, IMG}),
        ("only the preamble", dict(body=b"hello" * 1000, content_type=ctype()), {REQ}),
        ("1 MB preamble", dict(body=b"p" * 1_000_000 + CRLF + good, content_type=ctype()), {REQ, OK, BIG}),
        ("epilogue garbage", dict(body=good + b"\x00garbage" * 1000, content_type=ctype()), {OK}),
        ("header line of 2 MB", dict(body=form([image_part(jpeg)[:-2] + b"X-Long: " + b"a" * 2_000_000 + CRLF + CRLF + jpeg]), content_type=ctype()), {REQ, BIG, OK}),
        ("header without colon", dict(body=form([b"Content-Disposition form-data" + CRLF + CRLF + jpeg]), content_type=ctype()), {REQ}),
        ("part without headers", dict(body=form([CRLF + jpeg]), content_type=ctype()), {REQ}),
        ("LF line endings", dict(body=good.replace(CRLF, b"\n"), content_type=ctype()), {REQ, OK, IMG}),
        ("obsolete header folding", dict(body=form([b'Content-Disposition: form-data;\r\n name="image"; filename="a.jpg"' + CRLF + CRLF + jpeg]), content_type=ctype()), {REQ, OK}),
        ("5000 parts", dict(body=many, content_type=ctype()), {BIG}),
        ("nested multipart/mixed", dict(body=form([part(b"image", nested_inner, b"a.jpg", b"multipart/mixed; boundary=inner")]), content_type=ctype()), {FMT}),
        ("Content-Length shorter", dict(body=good, content_type=ctype(), length=len(good) // 2), {REQ, IMG}),
        ("Content-Length longer", dict(body=good, content_type=ctype(), length=len(good) + 1000), {REQ, OK, IMG}),
        ("Content-Length 0", dict(body=good, content_type=ctype(), length=0), {REQ}),
        ("Content-Length negative", dict(body=good, content_type=ctype(), length=-5), {REQ, OK}),
        ("Content-Length not a number", dict(body=good, content_type=ctype(), length="12abc"), {REQ, OK}),
        ("Content-Length 10 GB", dict(body=good, content_type=ctype(), length=10 * 2**30), {BIG}),
        ("no Content-Length", dict(body=good, content_type=ctype(), length=None), {REQ}),
        ("chunked, de-chunked by the server", dict(body=good, content_type=ctype(), chunked=True), {OK}),
        ("chunked over the cap", dict(body=big_part + b"\0" * 600_000, content_type=ctype(), chunked=True), {BIG}),
        ("chunk framing left in", dict(body=b"%x\r\n" % len(good) + good + b"\r\n0\r\n\r\n", content_type=ctype()), {REQ, OK}),
        ("raw chunked image", dict(body=jpeg, content_type="image/jpeg", chunked=True), {OK}),
        # Werkzeug decodes part headers as UTF-8 (as browsers send them): anything else is a 400.
        ("filename latin-1", dict(body=form([image_part(jpeg, "café.jpg".encode("latin-1"))]), content_type=ctype()), {OK, REQ}),
        ("filename invalid utf-8", dict(body=form([image_part(jpeg, b"\xff\xfe\xc3(.jpg")]), content_type=ctype()), {OK, REQ}),
        ("filename with NULs", dict(body=form([image_part(jpeg, b"a\x00b.jpg")]), content_type=ctype()), {OK}),
        ("filename CRLF injection", dict(body=form([image_part(jpeg, b'a.jpg"\r\nContent-Type: text/html\r\nX: "')]), content_type=ctype()), {OK, REQ}),
        ("filename path traversal", dict(body=form([image_part(jpeg, b"../../../etc/passwd")]), content_type=ctype()), {OK}),
        ("filename of 100 KB", dict(body=form([image_part(jpeg, b"a" * 100_000)]), content_type=ctype()), {OK, REQ, BIG}),
        ("filename* rfc 2231", dict(body=form([part(b"image", jpeg, None, b"image/jpeg", b"Content-Disposition: form-data; name=\"image\"; filename*=UTF-8''%E7%85%A7.jpg" + CRLF)]), content_type=ctype()), {OK, REQ}),
        ("image part over 4 MB", dict(body=big_part, content_type=ctype()), {BIG}),
        ("mask part over 4 MB", dict(body=form([image_part(jpeg), part(b"mask", b"\x89PNG\r\n\x1a\n" + b"\0" * cap, b"m.png", b"image/png")]), content_type=ctype()), {BIG}),
        ("text field over 1 MB", dict(body=form([image_part(jpeg), part(b"note", b"n" * 1_100_000)]), content_type=ctype()), {BIG}),
        ("image repeated, first good", dict(body=form([image_part(jpeg), image_part(b"garbage")]), content_type=ctype()), {OK}),
        ("image repeated, first garbage", dict(body=form([image_part(b"garbage"), image_part(jpeg)]), content_type=ctype()), {FMT}),
        ("field repeated 15 times", dict(body=form([image_part(jpeg)] + [part(b"background", b"#ffffff")] * 15), content_type=ctype()), {OK}),
        ("image as a text field", dict(body=form([part(b"image", jpeg)]), content_type=ctype()), {REQ}),
        ("base64 transfer encoding", dict(body=form([image_part(__import__("base64").b64encode(jpeg))]), content_type=ctype()), {FMT}),
        ("multipart/mixed top level", dict(body=good, content_type="multipart/mixed; boundary=" + BOUNDARY.decode()), {REQ}),
        ("urlencoded body", dict(body=b"image=" + jpeg, content_type="application/x-www-form-urlencoded"), {REQ}),
        ("no content type", dict(body=jpeg, content_type=None), {REQ}),
        ("content type garbage", dict(body=jpeg, content_type="\x00\xff;;;=="), {REQ}),
        ("query string of 100 KB", dict(body=jpeg, content_type="image/jpeg", query="background=" + "a" * 100_000), {OK, REQ}),  # remove_bg: a bad colour
        ("method PUT", dict(body=good, content_type=ctype(), method="PUT"), {"method_not_allowed"}),
        ("garbage bearer token", dict(body=jpeg, content_type="image/jpeg", headers={"HTTP_AUTHORIZATION": "Bearer \x00\xff" + "a" * 5000}), {"invalid_token"}),
    ]
    return cases
