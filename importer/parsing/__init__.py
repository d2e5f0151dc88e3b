"""Streaming readers that turn an uploaded file, or a decoded JSON body, into records."""

from importer.parsing.formats import open_upload
from importer.parsing.json_reader import records_from_objects
from importer.parsing.limits import ParseLimits
from importer.parsing.records import ParsedRecord, RecordSource

__all__ = ["ParseLimits", "ParsedRecord", "RecordSource", "open_upload", "records_from_objects"]
