"""Reading what the renderings produce: a PDF's text and the QR codes in its images."""

from __future__ import annotations

from io import BytesIO

import zxingcpp
from PIL import Image
from pypdf import PdfReader


def pdf_text(pdf: bytes) -> str:
    """The PDF's text, whitespace collapsed (a wrapped phrase reads as one)."""
    reader = PdfReader(BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def qr_codes(pdf: bytes) -> list[str]:
    """The text of every QR code in the PDF's images, decoded by zxing-cpp."""
    found = []
    for page in PdfReader(BytesIO(pdf)).pages:
        for image in page.images:
            picture = Image.open(BytesIO(image.data))
            found += [code.text for code in zxingcpp.read_barcodes(picture)]
    return found
