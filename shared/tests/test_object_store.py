"""The S3 adapter on a real S3 server.

Single and multipart uploads from a stream, and nothing left behind when an upload fails.
"""

from __future__ import annotations

import io
import os

import pytest

from microcred_shared.s3 import PART_SIZE, ObjectStore

pytestmark = pytest.mark.integration


def body_of(store: ObjectStore, key: str) -> bytes:
    return store._client.get_object(Bucket=store.bucket, Key=key)["Body"].read()


@pytest.mark.parametrize("size", [1, PART_SIZE, PART_SIZE + 1, 2 * PART_SIZE + 12345])
async def test_streams_upload_whole_from_their_position(
    object_store: ObjectStore, size: int
) -> None:
    content = os.urandom(size)
    stream = io.BytesIO(b"already read" + content)
    stream.seek(len(b"already read"))

    await object_store.put_stream("a/key", stream, "application/pdf", {"sha256": "x"})

    head = await object_store.head("a/key")
    assert head is not None
    assert head["ContentLength"] == size
    assert head["ContentType"] == "application/pdf"
    assert head["Metadata"] == {"sha256": "x"}
    assert body_of(object_store, "a/key") == content


class FailingStream(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= PART_SIZE:
            raise OSError("the disk went away")
        return super().read(size)


async def test_a_failed_multipart_upload_leaves_nothing(object_store: ObjectStore) -> None:
    stream = FailingStream(os.urandom(2 * PART_SIZE))

    with pytest.raises(OSError, match="disk went away"):
        await object_store.put_stream("b/key", stream, "application/pdf", {})

    assert await object_store.head("b/key") is None
    uploads = object_store._client.list_multipart_uploads(Bucket=object_store.bucket)
    assert uploads.get("Uploads", []) == []
