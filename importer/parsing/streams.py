"""Peeking at an upload's first bytes without consuming them, and decoding it as UTF-8."""

import codecs
import io
from typing import BinaryIO

from importer.errors import InvalidUpload

PEEK_SIZE = 64 * 1024
_BINARY_PROBE_SIZE = 8 * 1024
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class PeekedUpload:
    """An upload whose first bytes have been read, with a UTF-8 BOM set aside."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        prefix = _read_up_to(stream, PEEK_SIZE)
        self.at_eof = len(prefix) < PEEK_SIZE
        self.has_bom = prefix.startswith(codecs.BOM_UTF8)
        # Where ``prefix`` starts in the file, so errors can name the original byte.
        self.offset = len(codecs.BOM_UTF8) if self.has_bom else 0
        self.prefix = prefix[self.offset :]

    @property
    def encoding(self) -> str:
        return "utf-8-sig" if self.has_bom else "utf-8"

    def is_blank(self) -> bool:
        return self.at_eof and not self.prefix.strip()

    def is_utf16(self) -> bool:
        return self.prefix.startswith(_UTF16_BOMS)

    def has_nul_bytes(self) -> bool:
        return b"\x00" in self.prefix[:_BINARY_PROBE_SIZE]

    def is_text(self) -> bool:
        if self.has_nul_bytes():
            return False
        try:
            self._decode_prefix()
        except UnicodeDecodeError:
            return False
        return True

    def sample(self) -> str:
        """The prefix as text (less a character cut in two at its end)."""
        try:
            return self._decode_prefix()
        except UnicodeDecodeError as error:
            raise invalid_encoding(self.offset + error.start) from None

    def text(self) -> io.TextIOWrapper:
        """The whole upload from the end of the BOM, decoded as it is read."""
        raw = _ReplayedStream(self.prefix, self._stream, self.offset)
        # newline="": line endings inside quoted CSV fields must reach the csv module
        # untranslated, and JSON error offsets stay true to the file.
        return io.TextIOWrapper(io.BufferedReader(raw, PEEK_SIZE), encoding="utf-8", newline="")

    def _decode_prefix(self) -> str:
        return codecs.getincrementaldecoder("utf-8")().decode(self.prefix, final=self.at_eof)


def decoding_error(error: UnicodeDecodeError, text: io.TextIOWrapper) -> InvalidUpload:
    """Converts an error raised while reading ``text`` (from ``PeekedUpload.text``)."""
    # The bytes that failed (the chunk just read, plus any held back from the previous
    # one) end at the buffer's current position.
    return invalid_encoding(text.buffer.tell() - len(error.object) + error.start)


def invalid_encoding(byte_offset: int) -> InvalidUpload:
    return InvalidUpload(
        f"the file is not valid UTF-8 (first bad byte at offset {byte_offset})",
        code="invalid-encoding",
        details={"byte_offset": byte_offset},
    )


def utf16_not_supported() -> InvalidUpload:
    return InvalidUpload(
        "the file is UTF-16 encoded; save it as UTF-8",
        code="invalid-encoding",
        details={"encoding": "utf-16"},
    )


class _ReplayedStream(io.RawIOBase):
    """Yields the peeked prefix, then the rest of the caller's stream."""

    def __init__(self, prefix: bytes, stream: BinaryIO, offset: int) -> None:
        self._prefix = memoryview(prefix)
        self._stream = stream
        self._position = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if self._prefix:
            data: bytes | memoryview = self._prefix[: len(buffer)]
            self._prefix = self._prefix[len(data) :]
        else:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        # BufferedReader.tell() relies on this to report how far the text layer got.
        return self._position


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    # Raw and socket-like streams may return short reads before the end.
    chunks = []
    while size > 0 and (chunk := stream.read(size)):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
