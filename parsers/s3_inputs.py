"""`s3://bucket/prefix` inputs: list the objects, then stream each one like a file.

Why a module of its own: local-file users should not pay for boto3, so it is
imported only when an s3:// input is named; the reader sees an S3 object as
one more binary stream (`S3Object.open`), decompressed and framed exactly like
a file. Credentials come from boto3's usual chain (environment, profile, SSO,
instance role); the endpoint from `--endpoint-url` or `AWS_ENDPOINT_URL`, for
S3-compatible stores such as Cloudflare R2 or MinIO.

A glob after the prefix (`s3://logs/cf/E123.2026-11-*.gz`) is matched against
whole keys: `*` and `?` stay within one `/`-separated part, `**` crosses them.
Objects are read in key order, which is time order for CloudFront, ALB and
S3 access-log names.
"""

from __future__ import annotations

import glob
import io
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from parsers.inputs import InputError, Source

SCHEME = "s3://"
_STREAM_BUFFER = 1 << 20
_DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
}


@dataclass(frozen=True)
class S3Object:
    """One listed object. Objects are immutable, so size + ETag name its content without reading it."""

    bucket: str
    key: str
    size: int
    etag: str
    client: S3Client = field(compare=False, repr=False)

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    def open(self) -> BinaryIO:
        """A buffered stream of the object's bytes, read from the network as they are consumed."""
        return self.client.open(self)


class S3Client:
    """One boto3 client for a run, made on first use (boto3 is slow to import and to set up)."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def _boto(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                except ImportError:  # pragma: no cover - boto3 is a dependency
                    raise InputError("reading s3:// inputs needs boto3; install it with `pip install boto3`.") from None
                self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url or None)
            return self._client

    def expand(self, spec: str) -> list[Source]:
        """The objects an s3:// input names, in key order; an error when there are none."""
        bucket, prefix, matches = split_url(spec)
        objects: list[S3Object] = []
        with self._errors(f"{SCHEME}{bucket}/{prefix}", listing=True):
            for page in self._boto().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    key = item["Key"]
                    if key.endswith("/") or (matches is not None and not matches(key)):
                        continue  # folder markers, and keys the glob does not match
                    etag = str(item.get("ETag", "")).strip('"')
                    objects.append(S3Object(bucket, key, int(item["Size"]), etag, self))
        if not objects:
            what = f"match '{spec}'" if matches is not None else f"are under '{spec}'"
            raise InputError(f"no objects {what}; check the prefix (S3 keys are case-sensitive).")
        objects.sort(key=lambda o: o.key)
        return [Source(o.url, o) for o in objects]

    def open(self, obj: S3Object) -> BinaryIO:
        """GET the object, pinned to the listed ETag so a replaced object is noticed rather than mixed in."""
        with self._errors(obj.url, listing=False):
            pinned = {"IfMatch": f'"{obj.etag}"'} if obj.etag else {}
            body = self._boto().get_object(Bucket=obj.bucket, Key=obj.key, **pinned)["Body"]
        return io.BufferedReader(_BodyStream(body, obj.url), buffer_size=_STREAM_BUFFER)

    def _errors(self, where: str, listing: bool) -> AbstractContextManager[None]:
        return _translated_errors(where, listing, self.endpoint_url)


def split_url(spec: str) -> tuple[str, str, Callable[[str], Any] | None]:
    """s3://bucket/prefix[glob] -> (bucket, the literal prefix to list, a key matcher or None)."""
    bucket, _, path = spec[len(SCHEME):].partition("/")
    if not bucket or glob.has_magic(bucket):
        raise InputError(f"'{spec}' names no bucket; write s3://BUCKET/PREFIX, e.g. s3://my-logs/cloudfront/.")
    if not glob.has_magic(path):
        return bucket, path, None
    literal = re.split(r"[*?\[]", path, maxsplit=1)[0]
    return bucket, literal, re.compile(_glob_regex(path)).fullmatch


def _glob_regex(pattern: str) -> str:
    """A shell-style glob over S3 keys as a regex: `*`, `?`, `[...]` within a part, `**` across parts."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        i += 1
    return "".join(out)


class _BodyStream(io.RawIOBase):
    """The GET body as a raw stream; a connection lost mid-object becomes one clear InputError."""

    def __init__(self, body: Any, url: str) -> None:
        self._body = body
        self._url = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._body.read(len(buffer))
        except Exception as exc:  # botocore and urllib3 raise several unrelated types here
            raise InputError(f"reading {self._url} failed ({exc}); re-run to resume where it stopped.") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@contextmanager
def _translated_errors(where: str, listing: bool, endpoint_url: str | None) -> Iterator[None]:
    """Turn boto3's exceptions into one-line InputErrors that say what to do."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        message = _message(exc, where, listing, endpoint_url)
        if message is None:
            raise
        raise InputError(message) from exc


def _message(exc: Exception, where: str, listing: bool, endpoint: str | None) -> str | None:
    from botocore import exceptions as errors

    bucket = where[len(SCHEME):].split("/", 1)[0]
    if isinstance(exc, errors.NoCredentialsError):
        return (f"no AWS credentials found for {where}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE, or run `aws configure`.")
    if isinstance(exc, errors.EndpointConnectionError):
        return (f"cannot reach the S3 endpoint {exc.kwargs.get('endpoint_url', endpoint)}; "
                "check --endpoint-url (or AWS_ENDPOINT_URL) and the network.")
    if isinstance(exc, errors.ClientError):
        return _refusal(exc, where, bucket, listing, endpoint)
    if isinstance(exc, errors.BotoCoreError):
        return f"the S3 request for {where} failed: {exc}."
    return None


def _refusal(exc: Any, where: str, bucket: str, listing: bool, endpoint: str | None) -> str:
    """An S3 error answer (4xx/5xx) as a sentence with the fix."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "NoSuchBucket":
        where_hint = f" at {endpoint}" if endpoint else " (for R2 or MinIO, give --endpoint-url)"
        return f"bucket '{bucket}' does not exist{where_hint}; check the bucket name in {where}."
    if code in _BAD_CREDENTIALS:
        return (f"the AWS credentials were refused for {where} ({code}); check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE.")
    if code in _DENIED or status == 403:
        need = f"s3:ListBucket on '{bucket}'" if listing else f"s3:GetObject on {where}"
        return f"access to {where} was denied; the credentials need {need}."
    if code == "PreconditionFailed" or status == 412:
        return f"{where} was replaced after it was listed; re-run to read the new version."
    if code == "NoSuchKey" or status == 404:
        return f"{where} disappeared after it was listed; re-run to list the prefix again."
    return f"S3 refused {'listing' if listing else 'reading'} {where}: {code or status}; {exc}."
