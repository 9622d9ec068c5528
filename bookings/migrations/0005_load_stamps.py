"""Stamps that let a process keep a copy of the counting load current (bookings.domain.load_cache).

- `bookings_allocation.load_xid`: the id of the transaction that last wrote the row, or last
  changed the phase or hold expiry of its lease (set by triggers, whoever writes: the domain,
  the admin, a raw INSERT). A reader that remembers the oldest transaction still running when
  it last read (`pg_snapshot_xmin`) finds every change since with `load_xid >= that`.
- `bookings_loadgeneration`: one row whose uuid changes when allocations are deleted or
  truncated; deletions leave nothing to find, so readers start again from scratch then.

The column is maintained by the database and not declared on the model: Django never writes it.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE bookings_allocation ADD COLUMN load_xid bigint NOT NULL DEFAULT 0;
CREATE INDEX allocation_load_xid_idx ON bookings_allocation (load_xid);
-- statistics for the new column now, or the planner scans the table for the few changed rows
ANALYZE bookings_allocation;

CREATE TABLE bookings_loadgeneration (
    id smallint PRIMARY KEY CHECK (id = 1),
    generation uuid NOT NULL
);
INSERT INTO bookings_loadgeneration VALUES (1, gen_random_uuid());

CREATE FUNCTION bookings_allocation_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.load_xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END $$;
CREATE TRIGGER allocation_stamp BEFORE INSERT OR UPDATE ON bookings_allocation
    FOR EACH ROW EXECUTE FUNCTION bookings_allocation_stamp();

CREATE FUNCTION bookings_lease_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- allocation_stamp sets the real value
    UPDATE bookings_allocation SET load_xid = 0 WHERE lease_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER lease_stamp AFTER UPDATE OF phase, expires ON bookings_lease
    FOR EACH ROW
    WHEN (OLD.phase IS DISTINCT FROM NEW.phase OR OLD.expires IS DISTINCT FROM NEW.expires)
    EXECUTE FUNCTION bookings_lease_stamp();

CREATE FUNCTION bookings_load_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR EXISTS (SELECT 1 FROM gone) THEN
        UPDATE bookings_loadgeneration SET generation = gen_random_uuid();
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION bookings_load_forget_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bookings_loadgeneration SET generation = gen_random_uuid();
    RETURN NULL;
END $$;
CREATE TRIGGER allocation_forget AFTER DELETE ON bookings_allocation
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_load_forget();
CREATE TRIGGER allocation_forget_all AFTER TRUNCATE ON bookings_allocation
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_load_forget_all();
"""

BACKWARD = """
DROP TRIGGER allocation_forget_all ON bookings_allocation;
DROP TRIGGER allocation_forget ON bookings_allocation;
DROP FUNCTION bookings_load_forget_all();
DROP FUNCTION bookings_load_forget();
DROP TRIGGER lease_stamp ON bookings_lease;
DROP FUNCTION bookings_lease_stamp();
DROP TRIGGER allocation_stamp ON bookings_allocation;
DROP FUNCTION bookings_allocation_stamp();
DROP TABLE bookings_loadgeneration;
DROP INDEX allocation_load_xid_idx;
ALTER TABLE bookings_allocation DROP COLUMN load_xid;
"""


class Migration(migrations.Migration):
    dependencies = [("bookings", "0004_lease_load_idx")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
