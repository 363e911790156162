"""Which files to read, in which order: paths, globs, directories, stdin and s3:// prefixes.

Rotated sets are read oldest first (access.log.3.gz, .2.gz, .1, then the live
file), so events arrive in time order across rotations. S3 objects are listed
by parsers/s3_inputs.py, imported only when an s3:// input is named.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import BinaryIO, Protocol


class InputError(Exception):
    """An input that cannot be opened at all (missing file, unreadable path)."""


class RemoteObject(Protocol):
    """An input that is not a local file (an S3 object): the reader only needs to open it."""

    def open(self) -> BinaryIO: ...


@dataclass(frozen=True)
class Source:
    """One input stream: a file path, '-' for standard input, or a remote object named by its URL."""

    name: str
    remote: RemoteObject | None = None

    @property
    def is_stdin(self) -> bool:
        return self.name == "-"


_ROTATION = re.compile(r"^(?P<base>.*?)(?:[.-](?P<num>\d{1,4}|\d{8}|\d{10}))?(?P<ext>\.(?:gz|bz2|xz|zst))?$")


def _rotation_key(path: str) -> tuple[str, int, str]:
    """Sort key putting a rotated set oldest first: x.3.gz, x.2.gz, x.1, x.

    Small numbers are logrotate's counters (bigger is older); 8 or 10 digit
    suffixes are dates (bigger is newer); the live file comes last.
    """
    match = _ROTATION.match(os.path.basename(path))
    assert match is not None
    base, num = match["base"], match["num"]
    directory = os.path.dirname(path)
    if num is None:
        return (os.path.join(directory, base), 1 << 62, path)
    value = int(num)
    if len(num) <= 4:
        return (os.path.join(directory, base), -value, path)
    return (os.path.join(directory, base), value - (1 << 61), path)


def expand_inputs(specs: list[str], s3_endpoint: str | None = None) -> list[Source]:
    """Expand paths, globs, directories and s3:// prefixes into sources, rotated sets oldest first.

    `s3_endpoint` is the S3 API URL for S3-compatible stores; None lets boto3 choose (AWS_ENDPOINT_URL, AWS).
    """
    sources: list[Source] = []
    s3_client = None
    for spec in specs:
        if spec == "-":
            sources.append(Source("-"))
            continue
        if spec.startswith("s3://"):
            from parsers.s3_inputs import S3Client

            s3_client = s3_client or S3Client(s3_endpoint)
            sources.extend(s3_client.expand(spec))
            continue
        if os.path.isdir(spec):
            found = [os.path.join(spec, n) for n in os.listdir(spec)]
            found = [p for p in found if os.path.isfile(p) and not os.path.basename(p).startswith(".")]
        elif glob.has_magic(spec):
            found = [p for p in glob.glob(spec) if os.path.isfile(p)]
            if not found:
                raise InputError(f"no files match '{spec}'.")
        elif os.path.isfile(spec):
            found = [spec]
        elif os.path.exists(spec):
            raise InputError(f"'{spec}' is not a regular file or directory.")
        else:
            raise InputError(f"file '{spec}' does not exist.")
        sources.extend(Source(p) for p in sorted(found, key=_rotation_key))
    return sources
