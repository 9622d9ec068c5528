"""Model instances from hand-written SQL, for the few hot paths where compiling an ORM query
costs more Python time than the query itself (an accept, token authentication).

`Columns(Model, "alias").sql` lists every concrete column of the model (as a `SELECT` of the
model with `select_related` would); `Columns.build(row, start)` turns those values of a row
back into an instance exactly as the ORM does: `Model.from_db` after the fields' converters
(a `JSONField`'s decoding, for one)."""

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
        self._converters = None

    def converters(self) -> list:
        if self._converters is None:
            self._converters = [
                (i, field.get_db_converters(connection), field.cached_col)
                for i, field in enumerate(self.fields)
                if field.get_db_converters(connection)
            ]
        return self._converters

    def build(self, row, start: int = 0):
        """The instance of the values at `row[start:start + count]`; None if its key is NULL
        (the missing side of a LEFT JOIN)."""
        values = list(row[start : start + self.count])
        if values[self.pk_index] is None:
            return None
        for i, converters, col in self.converters():
            value = values[i]
            for convert in converters:
                value = convert(value, col, connection)
            values[i] = value
        return self.model.from_db(connection.alias, self.attnames, values)


def table(model) -> str:
    """The model's table name, quoted for hand-written SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def insert_values(model, instances) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) VALUES (…), (…)` for `instances` and its parameters, as
    `bulk_create` would write them (defaults, `auto_now_add`, database preparation) but without
    executing, so several inserts can go into one statement (data-modifying `WITH` clauses).
    An auto-incremented primary key is left to the database (add `RETURNING` to read it)."""
    columns, fields = _insert_fields(model)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [
        prepare(field.pre_save(instance, True) if stamped else getattr(instance, attname))
        for instance in instances
        for field, attname, stamped, prepare in fields
    ]
    sql = f"INSERT INTO {table(model)} ({columns}) VALUES {', '.join([row] * len(instances))}"
    return sql, params


_insert_field_cache: dict = {}


def _insert_fields(model) -> tuple[str, list]:
    """The columns an insert writes, and per field what `insert_values` needs: `pre_save` only
    where it does something (`auto_now`/`auto_now_add`), the database preparation bound once."""
    cached = _insert_field_cache.get(model)
    if cached is None:
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.db_returning)]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        plans = [
            (
                f,
                f.attname,
                getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False),
                _preparer(f),
            )
            for f in fields
        ]
        cached = _insert_field_cache[model] = (columns, plans)
    return cached


def _preparer(field):
    def prepare(value):
        return field.get_db_prep_save(value, connection)

    return prepare
