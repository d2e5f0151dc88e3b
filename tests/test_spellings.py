import pytest

from importer.discovery.os_parse import OS_FAMILIES
from importer.discovery.product_parse import PRODUCT_FAMILIES
from importer.discovery.spellings import from_csv, shipped

HEADER = "spelling,family,version,seen_in\n"


def test_every_shipped_spelling_says_where_it_is_seen() -> None:
    spellings = shipped()
    assert spellings
    texts = [spelling.text.casefold() for spelling in spellings]
    assert len(set(texts)) == len(texts), "a spelling is repeated"
    assert {spelling.family for spelling in spellings} <= OS_FAMILIES | PRODUCT_FAMILIES


@pytest.mark.parametrize(
    ("spelling", "text", "found"),
    [
        ("linux oracle", "Linux Oracle", True),
        ("linux oracle", "LINUX_ORACLE", True),
        ("11i v3", "HP-UX 11iv3", True),
        ("11i v3", "HP-UX 11i v31", False),
        ("ms sql", "MS-SQL Server 2012", True),
        ("mysql", "aurora-mysql", True),
        ("postgres", "PostgreSQL 12", False),
    ],
)
def test_a_spelling_is_found_between_words(spelling: str, text: str, found: bool) -> None:
    (parsed,) = from_csv(HEADER + f"{spelling},other,,a test\n")
    assert (parsed.find(text) is not None) is found


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("linux oracle,oracle_linux,,\n", "where the spelling is seen"),
        (",oracle_linux,,ServiceNow\n", "needs a spelling and a family"),
        ("linux oracle,,,ServiceNow\n", "needs a spelling and a family"),
        ("linux oracle,oracle_linux,,ServiceNow,extra\n", "more cells"),
    ],
)
def test_invalid_rows_are_refused(rows: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_csv(HEADER + rows)


def test_wrong_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="columns"):
        from_csv("spelling,family\nlinux oracle,oracle_linux\n")
