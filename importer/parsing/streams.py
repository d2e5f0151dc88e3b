"""Peeking at an upload's first bytes without consuming them, and decoding it as it streams."""

import codecs
import io
from typing import BinaryIO

from importer.errors import InvalidUpload
from importer.parsing.charsets import decoding_error

PEEK_SIZE = 64 * 1024


class PeekedUpload:
    """An upload whose first bytes have been read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.prefix = _read_up_to(stream, PEEK_SIZE)
        self.at_eof = len(self.prefix) < PEEK_SIZE

    def decoded(self, encoding: str) -> "TextUpload":
        return TextUpload(self.prefix, self.at_eof, self._stream, encoding)


class TextUpload:
    """An upload read as text in a known encoding."""

    def __init__(self, prefix: bytes, at_eof: bool, stream: BinaryIO, encoding: str) -> None:
        self.encoding = encoding
        self._prefix = prefix
        self._at_eof = at_eof
        self._stream = stream
        self._sample: str | None = None

    def sample(self) -> str:
        """The peeked bytes as text (less a character cut in two at their end)."""
        if self._sample is None:
            decoder = codecs.getincrementaldecoder(self.encoding)()
            try:
                self._sample = decoder.decode(self._prefix, final=self._at_eof)
            except UnicodeError as error:
                raise decoding_error(error, self.encoding, len(self._prefix)) from None
        return self._sample

    def is_blank(self) -> bool:
        return self._at_eof and not self.sample().strip(" \t\n\r\x0b\x0c")

    def text(self) -> io.TextIOWrapper:
        """The whole upload, decoded as it is read (a BOM is dropped)."""
        raw = _ReplayedStream(self._prefix, self._stream)
        # newline="": line endings inside quoted CSV fields must reach the csv module
        # untranslated, and JSON error offsets stay true to the file.
        return io.TextIOWrapper(
            io.BufferedReader(raw, PEEK_SIZE), encoding=self.encoding, newline=""
        )


def text_decoding_error(error: UnicodeError, text: io.TextIOWrapper) -> InvalidUpload:
    """Converts an error raised while reading ``text`` (from ``TextUpload.text``)."""
    # The bytes that failed end at the buffer's current position.
    return decoding_error(error, text.encoding, text.buffer.tell())


class _ReplayedStream(io.RawIOBase):
    """Yields the peeked prefix, then the rest of the caller's stream."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._stream = stream
        self._position = 0

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
