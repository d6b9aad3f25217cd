"""S3-compatible object storage through boto3 (AWS S3, MinIO, Ceph RGW, SeaweedFS)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import suppress
from typing import IO, TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from microcred_shared.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: Size of a multipart upload's parts (S3 wants at least 5 MiB); smaller objects go in one PUT.
PART_SIZE = 8 * 1024 * 1024


def make_s3_client(settings: S3Settings) -> S3Client:
    """Return a boto3 S3 client; boto3 opens connections only when a request is made."""
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        config=Config(
            s3={"addressing_style": settings.s3_addressing_style},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
        ),
    )


class _Window:
    """Bytes ``[start, start + length)`` of a seekable stream, read from it in place.

    boto3's ``upload_fileobj`` copies each part of a file object into memory (8 MiB, up to ten
    at once); sending a window on the stream instead keeps an upload's memory to a few buffers.
    """

    def __init__(self, stream: IO[bytes], start: int, length: int) -> None:
        self._stream = stream
        self._start = start
        self._length = length
        self._position = 0

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = max(0, min(self._length, base + offset))
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._position
        size = left if size is None or size < 0 else min(size, left)
        if size <= 0:
            return b""
        self._stream.seek(self._start + self._position)
        data = self._stream.read(size)
        self._position += len(data)
        return data


def _window(stream: IO[bytes], start: int, length: int) -> IO[bytes]:
    # boto3 needs only read, seek and tell of a body; the stubs ask for a whole IO.
    return cast("IO[bytes]", _Window(stream, start, length))


class ObjectStore:
    """The one bucket a service keeps its objects in; blocking calls run in worker threads."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    async def ensure_bucket(self) -> None:
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)
        except ClientError:
            await asyncio.to_thread(self._client.create_bucket, Bucket=self.bucket)

    async def ping(self) -> None:
        await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)

    async def put_stream(
        self, key: str, stream: IO[bytes], content_type: str, metadata: dict[str, str]
    ) -> None:
        """Upload a seekable ``stream`` from its position on, part by part, read in place."""
        await asyncio.to_thread(self._put_stream, key, stream, content_type, metadata)

    def _put_stream(
        self, key: str, stream: IO[bytes], content_type: str, metadata: dict[str, str]
    ) -> None:
        start = stream.tell()
        size = stream.seek(0, io.SEEK_END) - start
        if size <= PART_SIZE:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=_window(stream, start, size),
                ContentLength=size,
                ContentType=content_type,
                Metadata=metadata,
            )
            return
        # CRC32 part checksums, as boto3's own transfers ask for by default.
        upload_id = self._client.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
            Metadata=metadata,
            ChecksumAlgorithm="CRC32",
        )["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, offset in enumerate(range(0, size, PART_SIZE), start=1):
                length = min(PART_SIZE, size - offset)
                response = self._client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=_window(stream, start + offset, length),
                    ContentLength=length,
                    ChecksumAlgorithm="CRC32",
                )
                part: CompletedPartTypeDef = {"PartNumber": number, "ETag": response["ETag"]}
                if "ChecksumCRC32" in response:
                    part["ChecksumCRC32"] = response["ChecksumCRC32"]
                parts.append(part)
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Best effort: free the parts already stored; the original error is what matters.
            with suppress(Exception):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    async def head(self, key: str) -> dict[str, Any] | None:
        try:
            response = await asyncio.to_thread(
                self._client.head_object, Bucket=self.bucket, Key=key
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return dict(response)

    async def open(self, key: str) -> tuple[dict[str, Any], Iterator[bytes]]:
        """An object's metadata and its bytes in chunks, read as they are sent on."""
        response = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=key)
        return dict(response), response["Body"].iter_chunks(chunk_size=256 * 1024)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def keys(self, prefix: str = "") -> list[str]:
        paginator = self._client.get_paginator("list_objects_v2")

        def collect() -> list[str]:
            return [
                item["Key"]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for item in page.get("Contents", [])
            ]

        return await asyncio.to_thread(collect)
