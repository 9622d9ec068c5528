"""A lease's connectors (what each adapter's prepare() returns) as people read them: the
lease page and the notices show them alike."""


def connector_rows(connectors) -> list[dict]:
    """How to reach a lease's resources, whatever shape each adapter's connector has
    (`label`, `kind`, `url`, `name`, or other keys): a label, a target, and whether the
    target is a web link."""
    rows = []
    for c in connectors or []:
        if not isinstance(c, dict):
            rows.append({"label": "Connector", "target": str(c), "link": False})
            continue
        rest = {k: v for k, v in c.items() if k not in {"kind", "label", "url", "name"}}
        target = c.get("url") or c.get("name") or ", ".join(f"{k} {v}" for k, v in rest.items())
        target = str(target or "")
        rows.append(
            {
                "label": str(c.get("label") or c.get("kind") or "Connector"),
                "target": target,
                "link": target.startswith(("http://", "https://")),
            }
        )
    return rows
