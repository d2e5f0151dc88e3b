"""Which text encoding an upload is in: its byte-order mark, the client's word, or a guess."""

import codecs
import io
import re

from charset_normalizer import from_bytes

from importer.errors import InvalidUpload

# Decoding with these codecs drops the BOM, so byte offsets stay true to the file.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Text codecs that are no file's character set, or (UTF-7) decode to lone surrogates that
# PostgreSQL cannot store.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "utf-7"}
)
_MAX_NAME_LENGTH = 64
_ASCII_PROBE = "\t\n\r \"',;|[]{}:0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BINARY_PROBE_SIZE = 8 * 1024
# C0 controls that text files do not hold, leaving out form feed, vertical tab (FileMaker's
# line break in a field) and SUB (the end-of-file mark of old DOS tools).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
# Not ASCII, nor a byte that surrogateescape kept as an undecodable one.
_UTF8_CHARACTER = re.compile("[^\x00-\x7f\udc80-\udcff]")
# Mess (0 to 1) above which charset-normalizer's cp850 reading is not believed; random
# bytes and Mac Roman text score about 0.15, real cp850 text about 0.
_CP850_MAX_MESS = 0.1


def encoding_from_bom(prefix: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if prefix.startswith(bom):
            return encoding
    return None


def declared_encoding(name: str) -> str:
    """The codec for an encoding the client named, as Python spells it."""
    codec = _text_codec(name)
    if codec is None or codec in _NOT_CHARSETS:
        raise InvalidUpload(
            f"{name[:_MAX_NAME_LENGTH]!r} is not a character encoding this service knows",
            code="invalid-encoding-name",
            details={"encoding": name[:_MAX_NAME_LENGTH]},
        )
    # A file with a UTF-8 BOM is read as utf-8-sig whatever it declares.
    return "utf-8" if codec == "utf-8-sig" else codec


def is_ascii_compatible(encoding: str) -> bool:
    """Whether ASCII text means the same bytes in ``encoding`` (not so in UTF-16 or EBCDIC)."""
    try:
        return _ASCII_PROBE.encode("ascii").decode(encoding) == _ASCII_PROBE
    except UnicodeError:
        return False


def looks_binary(prefix: bytes) -> bool:
    """Whether the start of an upload in an ASCII-compatible encoding is not text at all."""
    probe = prefix[:_BINARY_PROBE_SIZE]
    return b"\x00" in probe or len(_CONTROL_BYTES.findall(probe)) * 100 > len(probe)


def detect_encoding(sample: bytes, at_eof: bool) -> str:
    """UTF-8, or else the legacy single-byte encoding the sample is most likely in.

    charset-normalizer alone takes cp1252 text for cp1250 or cp850 too often (French and
    Spanish accents, typographic quotes), which would garble the commonest legacy upload, an
    Excel CSV saved on Western Windows. So cp1252 is taken whenever it decodes the sample
    (latin-1 and ISO 8859-15 text then reads the same, bar a few symbols), and charset-
    normalizer only confirms cp850, the DOS code page, when cp1252 cannot decode it.
    """
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=at_eof)
    except UnicodeDecodeError as error:
        first_bad_byte = error.start
    else:
        return "utf-8"
    if not _holds_utf8_characters(sample):
        if _decodes(sample, "cp1252"):
            return "cp1252"
        if from_bytes(sample, cp_isolation=["cp850"], threshold=_CP850_MAX_MESS).best():
            return "cp850"
    raise InvalidUpload(
        f"the file is not valid UTF-8 (first bad byte at offset {first_bad_byte}) and its"
        " encoding could not be recognised: save it as UTF-8, or name its encoding",
        code="invalid-encoding",
        details={"byte_offset": first_bad_byte, "encoding": "utf-8"},
    )


def decoding_error(error: UnicodeError, encoding: str, end_offset: int) -> InvalidUpload:
    """Converts an error from decoding bytes that end at ``end_offset`` in the file."""
    if not isinstance(error, UnicodeDecodeError):
        # Such as a file declared as UTF-16 without a BOM to tell its byte order.
        return InvalidUpload(
            f"the file cannot be read as {encoding}: {error}",
            code="invalid-encoding",
            details={"encoding": encoding},
        )
    # Incremental decoders report the bytes they were given plus any they held back, and
    # a BOM-dropping decoder only the bytes after the BOM: either way they end at the end.
    byte_offset = end_offset - len(error.object) + error.start
    return InvalidUpload(
        f"the file is not valid {encoding} (first bad byte at offset {byte_offset})",
        code="invalid-encoding",
        details={"byte_offset": byte_offset, "encoding": encoding},
    )


def _text_codec(name: str) -> str | None:
    if len(name) > _MAX_NAME_LENGTH:
        return None
    try:
        # TextIOWrapper refuses codecs that do not turn bytes into text (base64, rot13...).
        io.TextIOWrapper(io.BytesIO(), encoding=name)
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        sample.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _holds_utf8_characters(sample: bytes) -> bool:
    # Legacy text hardly ever holds a well-formed multi-byte UTF-8 character by accident,
    # so one marks UTF-8 with stray bytes (two exports pasted together, say), which a
    # legacy encoding would silently turn into mojibake.
    return _UTF8_CHARACTER.search(sample.decode("utf-8", "surrogateescape")) is not None
