"""The s3:// backend through boto3: `s3://BUCKET[/PREFIX][?endpoint=https://s3.cern.ch]`.

The endpoint comes from the URL's `endpoint=`, else `RELVAL_S3_ENDPOINT`, else boto3's
own settings (`AWS_ENDPOINT_URL`, `~/.aws/config`); credentials are boto3's
(`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles). Path-style addressing is used,
as CERN's S3 (Ceph RGW) and most self-hosted stores need.

Verification uses the ETag the store computes from the bytes it received: the MD5 of a
single-part upload, or the MD5 of the parts' MD5s plus `-N` for a multipart one. The
part size is fixed here, so the expected ETag is computed locally the same way.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from relval.workflows.archive.backend import CHUNK, ArchiveError, Remote, join_key

PART_SIZE = 64 * 1024 * 1024  # multipart threshold and part size alike


def expected_etag(path: Path) -> str:
    """The ETag an S3 store gives `path` when uploaded by `S3Backend.put`."""
    digests, size = [], 0
    with open(path, "rb") as handle:
        while True:
            part = hashlib.md5()
            taken = 0
            while taken < PART_SIZE and (chunk := handle.read(min(CHUNK, PART_SIZE - taken))):
                part.update(chunk)
                taken += len(chunk)
            if not taken:
                break
            size += taken
            digests.append(part.digest())
    if size < PART_SIZE:  # below the threshold boto3 sends one PUT
        return digests[0].hex() if digests else hashlib.md5(b"").hexdigest()
    return hashlib.md5(b"".join(digests)).hexdigest() + f"-{len(digests)}"


class S3Backend:
    checksum_kind = "s3-etag"

    def __init__(self, url: str):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        parts = urlsplit(url)
        if not parts.netloc:
            raise ArchiveError(f"{url}: an s3:// archive URL needs a bucket (s3://BUCKET/PREFIX)")
        self.url, self.bucket, self.prefix = url, parts.netloc, parts.path.strip("/")
        endpoint = (parse_qs(parts.query).get("endpoint") or [None])[0] or os.environ.get("RELVAL_S3_ENDPOINT")
        config = Config(s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=60,
                        retries={"max_attempts": 3, "mode": "standard"})
        self.client = boto3.client("s3", endpoint_url=endpoint or None, config=config)
        self.transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                                       max_concurrency=4)

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _fail(self, action: str, key: str, error: Exception) -> ArchiveError:
        return ArchiveError(f"{self.url}: cannot {action} {key}: {_one_line(error)}")

    def put(self, pairs: list[tuple[Path, str]]) -> None:
        for source, key in pairs:
            try:
                self.client.upload_file(str(source), self.bucket, self._key(key), Config=self.transfer)
            except Exception as error:  # botocore's and boto3's errors share no useful base
                raise self._fail("write", key, error) from None

    def stat(self, keys: list[str]) -> dict[str, Remote]:
        from botocore.exceptions import ClientError

        found = {}
        for key in keys:
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise self._fail("stat", key, error) from None
            except Exception as error:
                raise self._fail("stat", key, error) from None
            found[key] = Remote(key, int(head["ContentLength"]), head.get("ETag", "").strip('"'))
        return found

    def get(self, pairs: list[tuple[str, Path]]) -> None:
        for key, target in pairs:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.bucket, self._key(key), str(target), Config=self.transfer)
            except Exception as error:
                raise self._fail("read", key, error) from None

    def list(self, prefix: str) -> list[Remote]:
        found = []
        full = self._key(prefix)
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full + "/" if full else "")
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                    found.append(Remote(key, int(item["Size"])))
        except Exception as error:
            raise self._fail("list", prefix or "/", error) from None
        return sorted(found, key=lambda r: r.key)

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as error:
            raise self._fail("read", key, error) from None

    def write(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as error:
            raise self._fail("write", key, error) from None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
