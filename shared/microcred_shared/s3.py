"""S3-compatible object storage through boto3 (AWS S3, MinIO, Ceph RGW, SeaweedFS)."""

from __future__ import annotations

import asyncio
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from microcred_shared.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
        """Upload ``stream`` in parts, never holding the whole object in memory."""
        await asyncio.to_thread(
            self._client.upload_fileobj,
            stream,
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type, "Metadata": metadata},
        )

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
