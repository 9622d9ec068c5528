"""A generation for the planning pools (bookings.domain.planning.pools): one uuid that triggers
change whenever a pool, site or capacity-change row is inserted, updated or deleted, or a
table truncated. Each process caches its pools under it, so a plan reads one value instead of
digesting every row. Changed in the writer's transaction, it becomes visible with the rows.

Also the state of the unmanaged models of the objects migrations 0005 and 0008 create
(`LoadGeneration`, `PoolsGeneration`): Django reads them, never creates or flushes them.
"""

from django.db import migrations, models

FORWARD = """
CREATE TABLE bookings_poolsgeneration (
    id smallint PRIMARY KEY CHECK (id = 1),
    generation uuid NOT NULL
);
INSERT INTO bookings_poolsgeneration VALUES (1, gen_random_uuid());

CREATE FUNCTION bookings_pools_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bookings_poolsgeneration SET generation = gen_random_uuid();
    RETURN NULL;
END $$;
CREATE TRIGGER pool_bump AFTER INSERT OR UPDATE OR DELETE ON resources_pool
    FOR EACH ROW EXECUTE FUNCTION bookings_pools_bump();
CREATE TRIGGER pool_bump_all AFTER TRUNCATE ON resources_pool
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_pools_bump();
CREATE TRIGGER site_bump AFTER INSERT OR UPDATE OR DELETE ON resources_site
    FOR EACH ROW EXECUTE FUNCTION bookings_pools_bump();
CREATE TRIGGER site_bump_all AFTER TRUNCATE ON resources_site
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_pools_bump();
CREATE TRIGGER capacitychange_bump AFTER INSERT OR UPDATE OR DELETE ON resources_capacitychange
    FOR EACH ROW EXECUTE FUNCTION bookings_pools_bump();
CREATE TRIGGER capacitychange_bump_all AFTER TRUNCATE ON resources_capacitychange
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_pools_bump();
"""

BACKWARD = """
DROP TRIGGER capacitychange_bump_all ON resources_capacitychange;
DROP TRIGGER capacitychange_bump ON resources_capacitychange;
DROP TRIGGER site_bump_all ON resources_site;
DROP TRIGGER site_bump ON resources_site;
DROP TRIGGER pool_bump_all ON resources_pool;
DROP TRIGGER pool_bump ON resources_pool;
DROP FUNCTION bookings_pools_bump();
DROP TABLE bookings_poolsgeneration;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0007_lease_holds_idx"),
        ("resources", "0002_pool_adapter_registered"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.CreateModel(
            name="LoadGeneration",
            fields=[
                ("id", models.SmallIntegerField(primary_key=True, serialize=False)),
                ("generation", models.UUIDField()),
            ],
            options={"db_table": "bookings_loadgeneration", "managed": False},
        ),
        migrations.CreateModel(
            name="PoolsGeneration",
            fields=[
                ("id", models.SmallIntegerField(primary_key=True, serialize=False)),
                ("generation", models.UUIDField()),
            ],
            options={"db_table": "bookings_poolsgeneration", "managed": False},
        ),
    ]
