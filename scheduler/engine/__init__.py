"""The planning engine: plain dataclasses in, ranked offers (or NO with reasons) out.

No Django here, and nothing from the rest of the project. Times are integer seconds since
the Unix epoch (UTC), amounts non-negative integers, dimensions strings; a dimension a pool
does not list has capacity 0.

Offer semantics (DESIGN §4), kept by ``find_offers``:

- **Feasible.** Every replica of every component gets at least each minimum, on one pool of
  its kind, for its whole grant interval [start - setup - staging, end), given the capacity
  timeline (base plus changes, a later change winning) and all load. Replicas sharing a pool
  share its free capacity. Free capacity is max(0, capacity - load): an overloaded instant,
  past or future, simply has no room. All grants of an offer are at one site (``site`` pins
  it). ``fits`` re-checks an offer against fresh load.
- **Earliest.** Starts are multiples of ``policy.step`` (whole UTC minutes for 60 s) in
  [start_earliest rounded up, start_latest]. The first offer starts at the earliest such
  instant where the minimums fit for ``duration.min``; no feasible start is missed.
  Preparation may begin before start_earliest, but never before ``policy.not_before``
  (pass "now" there so that nothing is prepared in the past).
- **Distinct.** No two offers of one answer use the same pool at overlapping grant
  intervals, so each holds its own capacity. Offers are chosen earliest first; after each
  one its pools are blocked over its grant intervals and the search goes on. K =
  min(request.max_offers, policy.max_offers).
- **Most that fits.** At the chosen start the duration is ``duration.max`` if it fits, else
  the longest that fits with the end on the step grid (never below ``duration.min``). At
  that start and duration each amount is the most that fits up to its maximum: the
  remaining free capacity of a pool is water-filled over the replicas on it (smaller
  maxima first, evenly among replicas of one component), and the replicas are placed on
  pools so as to maximise "more resources": the sum over replicas and dimensions of granted
  / maximum. That placement is optimal unless CP-SAT's time limit cuts it short.
- **Ranked.** Earliest start, then more resources, then longer duration, then site order
  (the order sites first appear in ``pools``).
- **Datasets.** A site holding a replica needs no staging; if that replica names a data
  pool, the offer takes one "readers" there (a grant of component "dataset:<slug>"). Any
  other site stages a copy: ceil(size / best replica rate) rounded up to the step, added to
  every grant's preparation, and the copy holds ``size_gib`` on a storage pool of the site
  over its grant interval (component "dataset:<slug>"). Several copies run in parallel: the
  longest sets the staging time.
- **NO.** When nothing fits, the answer carries ``Reason``s (kind "no-site",
  "no-eligible-pool", "dataset", "window", "insufficient-capacity" — too small even when
  empty —, "busy" — booked up in the window —, or "packing" — every part fits alone but not
  all together) and up to three ``Suggestion``s, each a relaxed request with the offer it
  gets: "fewer-resources" (the earliest start where half the minimums fit, else a quarter,
  …, with the largest multiple of 5 % that fits there), "shorter-duration" (the earliest start
  where half the minimum duration fits, else a quarter, …, for the longest that fits
  there), "later-start" (the first fit in the ``policy.horizon_after_window`` after the
  window). Malformed input (min > max, negative amounts, …) raises ValueError.

Which path answers which request shape:

- The **sweep** (``profile``, ``feasibility.earliest_start``) always finds the start. Each
  pool's free capacity is a step function over its load and capacity breakpoints; a window's
  minimum is a sparse-table query, evaluated at once for every candidate start: the window
  start and each instant some pool's free capacity rises, shifted by that pool's preparation
  time and rounded up to the step. Between two candidates windows only gain segments, so nothing
  feasible is skipped. The profiles of all pools of a kind are built in one pass
  (``profile.build_profiles``) and queried side by side (``profile.Stack``): the work per
  request grows with the breakpoints, not with a Python loop over the pools.
- Feasibility at those candidates is decided exactly with array operations when, per pool
  kind, at most one group of identical replicas has several members and the other items
  have at most 64 placements: the single items are placed every possible way and the
  replicas that fit in what is left are counted. That covers one replica (with or without
  a dataset reader or copy) and the Gaia shape (head + workers + scratch + dataset copy).
- Other shapes (say two multi-replica components of one kind) filter the candidates with a
  vectorised necessary test and a dominance test, then decide the survivors in time order
  with an exact greedy-then-depth-first search (``packing.assign``; CP-SAT settles the rare
  instance that exhausts its node budget).
- **Sizing** the grants at the chosen start (``packing``): a greedy assignment with
  water-filling, then **CP-SAT** (``packing.improve``) when some amount is a range and the
  greedy answer is below an upper bound. CP-SAT counts identical replicas per pool (no
  symmetry), gets the sweep's free capacity per pool at that start for every site tied at
  it (so it also chooses the site), the greedy answer as a hint, one worker and
  ``policy.solver_time_limit`` as the budget of the whole call; the greedy answer stays
  unless CP-SAT finds strictly more. Start times are not left to CP-SAT: the ranking puts
  the earliest start first and the sweep finds it exactly and faster; size traded against
  start shows up as later, larger offers.

**Fair share** (``Policy.limits``, ``Policy.budget``; ``limits``, ``pricing``): a limit
blocks intervals of a site (no grant may overlap them), caps what the request may use of a
pool, or narrows a site's latest start and longest duration; all of it applies to the free
profiles and sites before the sweep, so every offer and suggestion keeps it. With a budget
every offer carries its ``cost`` in SU (exact, rounded to the cent, preparation included); an
offer the budget cannot pay for is cut to its minimums, then shortened, else dropped. A NO
that a limit or the budget causes names it (Reason kind "policy" or "budget", with the
limit's message), the budget with a "within-budget" suggestion.

Load is a list of ``Load``s, or per pool a ``PoolLoad`` (the same in numpy columns, so a
caller that keeps its load in arrays hands it over without a Python object per allocation).
It is taken as complete over [start_earliest - preparation, start_latest +
duration.max), and for a NO answer up to ``horizon_after_window`` further.
"""

from .model import (
    EVERY_SITE,
    NO,
    YES,
    Answer,
    Budget,
    CapacityChange,
    Component,
    Dataset,
    DatasetReplica,
    Grant,
    Limit,
    Load,
    Offer,
    Policy,
    Pool,
    PoolLoad,
    Range,
    Rate,
    Reason,
    Request,
    Suggestion,
)
from .pricing import grants_cost, offer_cost
from .profile import fits, free_profile
from .solver import find_offers

__all__ = [
    "EVERY_SITE",
    "NO",
    "YES",
    "Answer",
    "Budget",
    "CapacityChange",
    "Component",
    "Dataset",
    "DatasetReplica",
    "Grant",
    "Limit",
    "Load",
    "Offer",
    "Policy",
    "Pool",
    "PoolLoad",
    "Range",
    "Rate",
    "Reason",
    "Request",
    "Suggestion",
    "find_offers",
    "fits",
    "free_profile",
    "grants_cost",
    "offer_cost",
]
