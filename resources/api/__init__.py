"""The inventory API: sites, pools and their free capacity, under /api/v1/."""
