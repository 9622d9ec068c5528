"""Model instances to and from hand-written SQL, for the few hot paths where compiling an ORM
query costs more Python time than the query itself (an accept, an offer set's inserts).

`Columns(Model, "alias").sql` lists every concrete column of the model (as a `SELECT` of the
model with `select_related` would); `Columns.build(row, start)` turns those values of a row
back into an instance exactly as the ORM does: `Model.from_db` after each field's
`from_db_value`. `insert_values` writes instances the other way, as one statement that can be
combined with others (an offer set's four inserts)."""

import json
import uuid

from django.db import connection


class Columns:
    def __init__(self, model, alias: str):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.count = len(self.fields)
        quote = connection.ops.quote_name
        self.sql = ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)
        self.attnames = [f.attname for f in self.fields]
        self.pk_index = self.fields.index(model._meta.pk)
        # What the ORM applies to a model field's value read from the database (the
        # documented `from_db_value` hook: a JSONField's decoding, for one).
        self.converters = [
            (i, field.from_db_value)
            for i, field in enumerate(self.fields)
            if hasattr(field, "from_db_value")
        ]

    def build(self, row, start: int = 0):
        """The instance of the values at `row[start:start + count]`; None if its key is NULL
        (the missing side of a LEFT JOIN)."""
        values = list(row[start : start + self.count])
        if values[self.pk_index] is None:
            return None
        for i, convert in self.converters:
            values[i] = convert(values[i], None, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


def prefetched(instance, name: str, objects) -> None:
    """Fill the relation `instance.<name>` with `objects`, as `prefetch_related` would (its
    `.all()`, `.count()`, iteration answer from them without a query). Django has no public way
    to do this; its prefetcher does the same three assignments."""
    queryset = getattr(instance, name).all()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def table(model) -> str:
    """The model's table name, quoted for hand-written SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def insert_values(model, instances) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) SELECT … FROM jsonb_populate_recordset(…)` for
    `instances` and its one parameter, with the values `bulk_create` would write (defaults,
    `auto_now_add`), but without executing, so several inserts can go into one statement
    (data-modifying `WITH` clauses). The rows travel as one JSON document: adapting each of a
    few dozen values as a separate query parameter cost more Python time than the insert.
    An auto-incremented primary key is left to the database (add `RETURNING` to read it)."""
    columns, fields = _insert_fields(model)
    rows = [
        {
            column: encode(field.pre_save(instance, True) if stamped else getattr(instance, name))
            for field, name, column, stamped, encode in fields
        }
        for instance in instances
    ]
    sql = (
        f"INSERT INTO {table(model)} ({columns}) SELECT {columns}"
        f" FROM jsonb_populate_recordset(NULL::{table(model)}, %s::jsonb)"
    )
    return sql, [json.dumps(rows)]


_insert_field_cache: dict = {}


def _insert_fields(model) -> tuple[str, list]:
    """The columns an insert writes, and per field what `insert_values` needs: `pre_save` only
    where it does something (`auto_now`/`auto_now_add`), and how its value becomes JSON that
    PostgreSQL reads back as the column's type."""
    cached = _insert_field_cache.get(model)
    if cached is None:
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.db_returning)]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        plans = [
            (
                f,
                f.attname,
                f.column,
                getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False),
                _encoder(f),
            )
            for f in fields
        ]
        cached = _insert_field_cache[model] = (columns, plans)
    return cached


def _encoder(field):
    kind = (
        field.target_field.get_internal_type() if field.is_relation else field.get_internal_type()
    )
    if kind == "JSONField":
        return _same
    if kind in ("UUIDField", "DateTimeField", "DateField"):
        return _text
    if kind == "DateTimeRangeField":
        return _range
    if kind == "DecimalField":
        return _decimal
    if kind in _PLAIN:
        return _same
    raise TypeError(f"insert_values cannot encode a {kind} ({field})")


_PLAIN = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "BigIntegerField",
    "IntegerField",
    "SmallIntegerField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "BooleanField",
    "CharField",
    "TextField",
    "SlugField",
}


def _same(value):
    return value


def _text(value):
    return (
        None
        if value is None
        else (str(value) if isinstance(value, uuid.UUID) else value.isoformat())
    )


def _decimal(value):
    return None if value is None else str(value)


def _range(value):
    if value is None:
        return None
    lower = "" if value.lower is None else value.lower.isoformat()
    upper = "" if value.upper is None else value.upper.isoformat()
    return f"{value.bounds[0]}{lower},{upper}{value.bounds[1]}"
