"""Only the owner can use the local AWS: loopback Host, a verified SigV4 signature, no global CORS.

One WSGI middleware in front of moto's app:
- a Host that is not loopback gets 403 (DNS rebinding);
- every request must be signed (SigV4, header or presigned query) with the owner's key: the signature is
  recomputed with botocore's signer and compared in constant time; unsigned, forged, expired → 403;
- the only unsigned request let through is a CORS preflight for an S3 bucket or object, stripped of its body
  and handed to moto's S3 app, so that only a bucket's own CORS rule can allow an origin.
moto's own IAM access control is not used: in server mode it answers unsigned and presigned requests with
500, fails bodiless Lambda GETs, never checks presigned signatures, and ``/moto-api/reset-auth`` turns it
off without credentials (docs/adr/0001-local-aws-lockdown.md).
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from localaws.context import Context
from localaws.credentials import Credentials

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
MAX_SKEW = dt.timedelta(minutes=15)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def host_is_loopback(host_header: str) -> bool:
    """127.0.0.1, localhost or [::1], with any port (and bucket.localhost, S3's virtual-host style)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in LOOPBACK_HOSTS or host.endswith(".localhost")


def _header(environ: dict[str, Any], name: str) -> str | None:
    name = name.lower()
    if name in ("content-type", "content-length"):
        return environ.get(name.upper().replace("-", "_"))
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """Read the body for hashing and put it back for moto."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked transfer encoding
        body = stream.read()
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _amz_time(value: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise Refused("AccessDenied", "missing or invalid X-Amz-Date") from None


class Lockdown:
    """WSGI middleware: refuse everything but the owner's signed requests on a loopback Host."""

    def __init__(self, app: Any, credentials: Credentials, dispatcher: Any) -> None:
        from botocore.credentials import Credentials as BotoCredentials

        self.app = app
        self.dispatcher = dispatcher  # moto's own, for the S3 preflight
        self.key_id = credentials.access_key_id
        self.signing = BotoCredentials(credentials.access_key_id, credentials.secret_access_key)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not host_is_loopback(environ.get("HTTP_HOST", "")):
            return self._deny(
                start_response, "AccessDenied", "this local AWS answers on a loopback Host only"
            )
        try:
            if self._is_preflight(environ):
                return self._preflight(environ, start_response)
            self.verify(environ)
        except Refused as refused:
            return self._deny(start_response, refused.code, refused.message)
        return self.app(environ, start_response)

    @staticmethod
    def _deny(start_response: Any, code: str, message: str) -> list[bytes]:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            "</Error>"
        ).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        )
        return [body]

    # --- CORS preflight: the bucket's own rule answers
    @staticmethod
    def _is_preflight(environ: dict[str, Any]) -> bool:
        return (
            environ.get("REQUEST_METHOD") == "OPTIONS"
            and "HTTP_ORIGIN" in environ
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
            and "HTTP_AUTHORIZATION" not in environ
        )

    def _preflight(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.strip("/") or path.startswith("/moto-api"):
            raise Refused("AccessDenied", "a preflight is answered for bucket and object URLs only")
        stripped = dict(environ)  # unsigned: nothing in it may turn into an action
        stripped.update(
            {"CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b""), "wsgi.input_terminated": False}
        )
        for name in ("CONTENT_TYPE", "HTTP_X_AMZ_TARGET", "HTTP_TRANSFER_ENCODING"):
            stripped.pop(name, None)
        return self._s3_app()(stripped, start_response)

    def _s3_app(self) -> Any:
        dispatcher = self.dispatcher
        with dispatcher.lock:
            if "s3" not in dispatcher.app_instances:
                dispatcher.app_instances["s3"] = dispatcher.create_app("s3")
            return dispatcher.app_instances["s3"]

    # --- SigV4
    def verify(self, environ: dict[str, Any]) -> str:
        """Check the request's SigV4 signature against the owner's key; returns the signed service."""
        from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
        from botocore.awsrequest import AWSRequest

        raw = urlsplit(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        path, query = raw.path or "/", raw.query
        host = environ.get("HTTP_HOST", "")
        pairs = [p.partition("=") for p in query.split("&") if p] if query else []
        params = {k: unquote(v) for k, _, v in pairs}
        now = dt.datetime.now(dt.UTC)
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization:
            match = _AUTHORIZATION.match(authorization.strip())
            if not match:
                raise Refused("AccessDenied", "only AWS4-HMAC-SHA256 signatures are accepted")
            key, scope_date, region, service = match["key"], match["date"], match["region"], match["service"]
            signed, given = match["signed"].split(";"), match["signature"]
            amz_date = _header(environ, "x-amz-date") or ""
            canonical_query, presigned = query, False
        elif "X-Amz-Signature" in params:
            if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
                raise Refused("AccessDenied", "only AWS4-HMAC-SHA256 signatures are accepted")
            try:
                key, scope_date, region, service, _ = params["X-Amz-Credential"].split("/")
                signed = params["X-Amz-SignedHeaders"].split(";")
                expires = int(params["X-Amz-Expires"])
            except (KeyError, ValueError):
                raise Refused("AuthorizationQueryParametersError", "malformed presigned URL") from None
            given, amz_date = params["X-Amz-Signature"], params.get("X-Amz-Date", "")
            canonical_query = "&".join(f"{k}{s}{v}" for k, s, v in pairs if k != "X-Amz-Signature")
            presigned = True
        else:
            raise Refused("AccessDenied", "the request is not signed")

        if not hmac.compare_digest(key.encode(), self.key_id.encode()):
            raise Refused("InvalidAccessKeyId", "the access key is not this local AWS's")
        if "host" not in signed:
            raise Refused("AccessDenied", "the Host header must be signed")
        signed_at = _amz_time(amz_date)
        if amz_date[:8] != scope_date:
            raise Refused("SignatureDoesNotMatch", "the credential scope date differs from X-Amz-Date")
        if presigned:
            if not 0 < expires <= MAX_PRESIGN_SECONDS or now > signed_at + dt.timedelta(seconds=expires):
                raise Refused("AccessDenied", "the presigned URL has expired")
            if signed_at - now > MAX_SKEW:
                raise Refused("AccessDenied", "the presigned URL is dated in the future")
        elif abs(now - signed_at) > MAX_SKEW:
            raise Refused("RequestTimeTooSkewed", "X-Amz-Date is more than 15 minutes from now")

        headers = {}
        for name in signed:
            value = host if name == "host" else _header(environ, name)
            if value is None:
                raise Refused("SignatureDoesNotMatch", f"the signed header {name} is missing")
            headers[name] = value
        # The body is part of the signature unless x-amz-content-sha256 stands for it (S3).
        hashed_body = "x-amz-content-sha256" not in headers and not (presigned and service == "s3")
        body = _buffer_body(environ) if hashed_body else b""
        if service == "s3":
            signer_class = S3SigV4QueryAuth if presigned else S3SigV4Auth
        else:
            signer_class = SigV4QueryAuth if presigned else SigV4Auth
        signer = signer_class(self.signing, service, region)
        url = f"http://{host}{path}" + (f"?{canonical_query}" if canonical_query else "")
        request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, headers=headers, data=body)
        request.context["timestamp"] = amz_date
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise Refused("SignatureDoesNotMatch", "the request signature does not match")
        return service


def install(ctx: Context) -> None:
    """Switch off moto's global CORS and sign its Step Functions call-backs with the owner's key."""
    import boto3
    import moto.moto_server.werkzeug_app as werkzeug_app
    import moto.stepfunctions.parser.asl.utils.boto_client as sfn_boto_client

    # moto allows every origin unless told not to; the raw buckets' own CORS rule is the only CORS.
    ctx.patcher.set(werkzeug_app, "DISABLE_GLOBAL_CORS", True)
    credentials, endpoint = ctx.credentials, ctx.endpoint_url

    class OwnerBoto3:
        """boto3 for moto's ASL interpreter, which signs its service calls with the fixed key "ak"."""

        def client(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.update(
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=None,
            )
            if "endpoint_url" in kwargs:
                kwargs["endpoint_url"] = endpoint
            return boto3.client(*args, **kwargs)

    # moto's ASL interpreter signs its service calls with the fixed key "ak"; sign them as the owner.
    ctx.patcher.set(sfn_boto_client, "boto3", OwnerBoto3())
