"""Checks on the header row of a CSV file or worksheet."""

from importer.errors import InvalidUpload


def is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def check_labels(columns: list[str]) -> None:
    """Rejects blank and repeated column names (``columns`` are already stripped)."""
    blank = [position for position, label in enumerate(columns, 1) if not label]
    if blank:
        raise InvalidUpload(
            f"the header has blank column names (columns {', '.join(map(str, blank))})",
            code="blank-label",
            details={"positions": blank},
        )
    positions: dict[str, list[int]] = {}
    for position, label in enumerate(columns, 1):
        positions.setdefault(label, []).append(position)
    duplicates = [
        {"label": label, "positions": where} for label, where in positions.items() if len(where) > 1
    ]
    if duplicates:
        names = ", ".join(repr(duplicate["label"]) for duplicate in duplicates)
        raise InvalidUpload(
            f"the header repeats column names: {names}",
            code="duplicate-label",
            details={"duplicates": duplicates},
        )
