"""Every hand-written SQL statement of the service, one module per subject.

Hand-written SQL stays only where a benchmark showed the ORM cost too much (bench/README.md).
Statements take parameters only (`= ANY(%(phases)s)`): no literal or fragment is pasted into
them. Each builder is tested against the ORM query it replaces (tests/bookings/sql/).
The API and the web never import this package: they call selectors and services.
"""
