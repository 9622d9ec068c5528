"""Rates and policy limits bump the planning pools generation (bookings migration 0008), so
each process caches them with the pools and an offer set reads no row of them."""

from django.db import migrations

TABLES = ("projects_rate", "projects_policylimit")
FORWARD = "".join(
    f"""
CREATE TRIGGER {t}_bump AFTER INSERT OR UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION bookings_pools_bump();
CREATE TRIGGER {t}_bump_all AFTER TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_pools_bump();
"""
    for t in TABLES
)
BACKWARD = "".join(f"DROP TRIGGER {t}_bump_all ON {t}; DROP TRIGGER {t}_bump ON {t};" for t in TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("bookings", "0008_pools_generation"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
