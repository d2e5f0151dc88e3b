"""SQL helpers the services share."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Text, Uuid, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def in_array(column, values: Iterable, item_type=Text) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one parameter however many values, where ``IN`` takes one
    parameter per value and fails past 65,535 of them."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(item_type)))


def in_uuid_array(column, values: Iterable) -> ColumnElement[bool]:
    return in_array(column, values, Uuid)
