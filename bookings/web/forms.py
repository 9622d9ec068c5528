"""Forms of the web pages, and the translation between them and a booking request (DESIGN §4).

The booking form is plain HTML: one `BookingForm` for the request as a whole and a formset of
`ComponentForm` rows. `request_data` turns them into the JSON body `offer_set_create`
validates; `booking_initial` turns a normalised request (a template's, a previous offer set's)
back into form values; `domain_errors_attach` puts each `DomainError` path on the field it
names, in plain words, so every problem shows beside what the user typed.
"""

import re
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal

from django import forms

from bookings.domain import policy
from bookings.domain.errors import DomainError
from bookings.domain.isotime import from_iso, iso
from bookings.web.instants import showable, shown
from projects.models import Project
from resources.choices import DIMENSIONS_BY_KIND, PoolKind
from resources.models import Dataset, Site

# (dimension, label) in the order the form shows them.
DIMENSION_FIELDS = (
    ("cores", "Cores"),
    ("memory_gib", "Memory (GiB)"),
    ("gpus", "GPUs"),
    ("size_gib", "Storage (GiB)"),
    ("readers", "Dataset readers"),
)
DIMENSION_LABELS = dict(DIMENSION_FIELDS)
WINDOW_DEFAULT = timedelta(days=7)
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
LAST_YEAR = 9999


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=LOCAL_INPUT, **kwargs)


def _amount_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=0,
        max_value=policy.MAX_AMOUNT,  # refused on its field, not first by the domain
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )


class ComponentForm(forms.Form):
    """One part of the job: `replicas` copies, each needing these amounts on one pool."""

    name = forms.CharField(label="Name", max_length=policy.MAX_COMPONENT_NAME_LENGTH)
    kind = forms.ChoiceField(label="Kind", choices=PoolKind.choices, initial=PoolKind.COMPUTE)
    replicas = forms.IntegerField(
        label="Replicas", min_value=1, max_value=policy.MAX_REPLICAS, initial=1
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for dim, label in DIMENSION_FIELDS:
            self.fields[f"{dim}_min"] = _amount_field(f"{label}, at least")
            self.fields[f"{dim}_max"] = _amount_field(f"{label}, up to (optional)")

    def dimension_rows(self):
        """(dimension, label, min field, max field) per dimension, for the template."""
        return [
            (dim, label, self[f"{dim}_min"], self[f"{dim}_max"]) for dim, label in DIMENSION_FIELDS
        ]

    def clean(self):
        data = super().clean()
        given = False
        for dim, _label in DIMENSION_FIELDS:
            low, high = data.get(f"{dim}_min"), data.get(f"{dim}_max")
            if high is not None and low is None:
                self.add_error(f"{dim}_min", "give “at least” too when you give “up to”")
            given = given or low is not None
        if not given and not self.errors:
            raise forms.ValidationError("Give at least one amount (cores, memory, …).")
        return data

    def amounts(self) -> dict:
        result = {}
        for dim, _label in DIMENSION_FIELDS:
            low = self.cleaned_data.get(f"{dim}_min")
            high = self.cleaned_data.get(f"{dim}_max")
            if low is None:
                continue
            result[dim] = low if high is None or high == low else {"min": low, "max": high}
        return result


class BaseComponentFormSet(forms.BaseFormSet):
    # The page hides the amounts a component's kind cannot have (progressive enhancement).
    dimensions_by_kind = DIMENSIONS_BY_KIND

    def clean(self):
        if any(self.errors):
            return
        if not self.rows():
            raise forms.ValidationError("Describe at least one component.")

    def rows(self) -> list[int]:
        """Indices of the filled-in forms not marked for removal, in request order."""
        return [
            i
            for i, form in enumerate(self.forms)
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


ComponentFormSet = forms.formset_factory(
    ComponentForm,
    formset=BaseComponentFormSet,
    extra=1,
    can_delete=True,
    max_num=policy.MAX_COMPONENTS,
    absolute_max=policy.MAX_COMPONENTS,
    validate_max=True,
)


class BookingForm(forms.Form):
    name = forms.CharField(
        label="Name (optional)", max_length=policy.MAX_NAME_LENGTH, required=False
    )
    project = forms.ModelChoiceField(
        label="Project to charge",
        queryset=Project.objects.none(),
        to_field_name="slug",
        required=False,
        empty_label="my default project",
        help_text="Priced pools charge a project's allocation; the price is on every offer.",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            self.fields["project"].queryset = Project.objects.filter(
                memberships__user=user
            ).order_by("slug")

    datasets = forms.ModelMultipleChoiceField(
        label="Datasets to read",
        queryset=Dataset.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    site = forms.ModelChoiceField(
        label="Site",
        queryset=Site.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="Any site",
    )
    duration_hours = forms.DecimalField(
        label="Duration (hours)", max_digits=7, decimal_places=2, min_value=Decimal("0.01")
    )
    duration_max_hours = forms.DecimalField(
        label="Longer if possible, up to (hours, optional)",
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )
    earliest = forms.DateTimeField(
        label="Start no earlier than (empty: now)", required=False, widget=LocalDateTimeInput()
    )
    latest = forms.DateTimeField(
        label="Start no later than (empty: a week after that)",
        required=False,
        widget=LocalDateTimeInput(),
    )
    max_offers = forms.IntegerField(
        label="How many offers",
        min_value=1,
        max_value=policy.MAX_OFFERS,
        initial=policy.DEFAULT_OFFERS,
    )
    flex_before_hours = forms.DecimalField(
        label="If maintenance hits it, it may start up to (hours) earlier",
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
    )
    flex_after_hours = forms.DecimalField(
        label="… or up to (hours) later",
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        help_text="Empty: it keeps its time (it may still move to an equivalent pool); if"
        " there is no room, you get fresh offers and a day to choose.",
    )

    def clean(self):
        data = super().clean()
        earliest, latest = data.get("earliest"), data.get("latest")
        for name, value in (("earliest", earliest), ("latest", latest)):
            if value and value.year >= LAST_YEAR:  # a week later would not be a date at all
                self.add_error(name, f"must be before the year {LAST_YEAR}")
            elif value and not showable(value):
                self.add_error(name, "must be after the year 1")
        if earliest and latest and latest < earliest:
            self.add_error("latest", "is before the earliest start")
        low, high = data.get("duration_hours"), data.get("duration_max_hours")
        if low and high and high < low:
            self.add_error("duration_max_hours", "is shorter than the duration")
        return data


class QuickAskForm(forms.Form):
    """The dashboard's "when can I do this?" box: one compute job, soonest first."""

    cores = forms.IntegerField(label="Cores", min_value=1, max_value=100_000)
    memory_gib = forms.IntegerField(
        label="Memory (GiB)", min_value=0, max_value=policy.MAX_AMOUNT, required=False
    )
    hours = forms.DecimalField(
        label="Hours", max_digits=7, decimal_places=2, min_value=Decimal("0.01")
    )

    def request_data(self) -> dict:
        amounts = {"cores": self.cleaned_data["cores"]}
        if self.cleaned_data.get("memory_gib"):
            amounts["memory_gib"] = self.cleaned_data["memory_gib"]
        return {
            "name": "Quick question",
            "components": [{"name": "job", "kind": PoolKind.COMPUTE, "amounts": amounts}],
            "duration": _seconds(self.cleaned_data["hours"]),
        }


class ProfileForm(forms.Form):
    timezone = forms.ChoiceField(label="Your time zone", choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(z, z) for z in sorted(zoneinfo.available_timezones())]


class ExtendForm(forms.Form):
    end = forms.DateTimeField(label="New end", widget=LocalDateTimeInput())

    def clean_end(self):
        end = self.cleaned_data["end"]
        if end.year >= LAST_YEAR or not showable(end):  # the domain bounds it much nearer
            raise forms.ValidationError(f"must be before the year {LAST_YEAR}")
        return end


def _seconds(hours: Decimal) -> int:
    return int(hours * 3600)


def _hours(seconds: int) -> str:
    """Hours as the form shows them: "480", "1.5", "0.02" (never "4.8E+2")."""
    return f"{(Decimal(seconds) / 3600).quantize(Decimal('0.01')).normalize():f}"


def request_data(form: BookingForm, formset: BaseComponentFormSet, *, now: datetime) -> dict:
    """The JSON request of two valid forms; the component order is `formset.rows()`."""
    data = form.cleaned_data
    components = []
    for i in formset.rows():
        row = formset.forms[i]
        components.append(
            {
                "name": row.cleaned_data["name"],
                "kind": row.cleaned_data["kind"],
                "replicas": row.cleaned_data["replicas"],
                "amounts": row.amounts(),
            }
        )
    low = _seconds(data["duration_hours"])
    high = _seconds(data["duration_max_hours"]) if data.get("duration_max_hours") else low
    request = {
        "name": data["name"],
        "components": components,
        "datasets": [d.slug for d in data["datasets"]],
        "site": data["site"].slug if data["site"] else None,
        "duration": low if high == low else {"min": low, "max": high},
        "max_offers": data["max_offers"],
    }
    if data.get("project"):
        request["project"] = data["project"].slug
    before, after = data.get("flex_before_hours"), data.get("flex_after_hours")
    if before or after:
        request["flex"] = {"before": _seconds(before or 0), "after": _seconds(after or 0)}
    earliest, latest = data.get("earliest"), data.get("latest")
    if earliest or latest:
        earliest = earliest or now
        latest = latest or earliest + WINDOW_DEFAULT
        request["start"] = f"{iso(earliest)}/{iso(latest)}"
    return request


def request_input(normalised: dict) -> dict:
    """A normalised request (as stored on an offer set) as a request `offer_set_create` takes."""
    window = normalised["start"]
    return {**normalised, "start": f"{window['earliest']}/{window['latest']}"}


def booking_initial(normalised: dict, *, now: datetime) -> tuple[dict, list[dict]]:
    """Form and formset initial values showing a normalised request."""
    components = []
    for c in normalised["components"]:
        row = {"name": c["name"], "kind": c["kind"], "replicas": c["replicas"]}
        for dim, amount in c["amounts"].items():
            row[f"{dim}_min"] = amount["min"]
            if amount["max"] != amount["min"]:
                row[f"{dim}_max"] = amount["max"]
        components.append(row)
    duration = normalised["duration"]
    longer = duration["max"] != duration["min"]
    earliest = shown(from_iso(normalised["start"]["earliest"]))
    latest = shown(from_iso(normalised["start"]["latest"]))
    initial = {
        "name": normalised["name"],
        "datasets": normalised["datasets"],
        "site": normalised["site"],
        "duration_hours": _hours(duration["min"]),
        "duration_max_hours": _hours(duration["max"]) if longer else None,
        "max_offers": normalised["max_offers"],
        "project": normalised.get("project"),
        "flex_before_hours": _flex_hours(normalised, "before"),
        "flex_after_hours": _flex_hours(normalised, "after"),
        # A window that has begun starts "now" again, and its default length needs no value.
        "earliest": earliest if earliest > now + timedelta(minutes=1) else None,
        "latest": None if latest - earliest == WINDOW_DEFAULT else latest,
    }
    return initial, components


def _flex_hours(normalised: dict, key: str) -> str | None:
    seconds = (normalised.get("flex") or {}).get(key)
    return _hours(seconds) if seconds else None


_COMPONENT_PATH = re.compile(
    r"^components\[(?P<index>\d+)\](?:\.(?P<field>name|kind|replicas|amounts))?"
    r"(?:\.(?P<dim>\w+))?(?:\.(?P<bound>min|max))?$"
)
_REQUEST_FIELDS = {
    "name": "name",
    "site": "site",
    "datasets": "datasets",
    "duration": "duration_hours",
    "duration.min": "duration_hours",
    "duration.max": "duration_max_hours",
    "start": "earliest",
    "max_offers": "max_offers",
    "flex.before": "flex_before_hours",
    "flex.after": "flex_after_hours",
    "project": "project",
}


def domain_errors_attach(error: DomainError, form: BookingForm, formset) -> None:
    """Show each problem of `error` on the field its path names; the rest above the form."""
    rows = formset.rows()
    unplaced = []
    for item in error.errors:
        path = re.sub(r"^datasets\[\d+\]$", "datasets", item.path)
        if path in _REQUEST_FIELDS:
            form.add_error(_REQUEST_FIELDS[path], item.message)
            continue
        match = _COMPONENT_PATH.match(path)
        if match and int(match["index"]) < len(rows):
            row = formset.forms[rows[int(match["index"])]]
            field = match["field"]
            if field == "amounts" and match["dim"] in DIMENSION_LABELS:
                row.add_error(f"{match['dim']}_{match['bound'] or 'min'}", item.message)
            elif field in {"name", "kind", "replicas"}:
                row.add_error(field, item.message)
            else:
                row.add_error(None, item.message)
            continue
        unplaced.append(str(item) if item.path else item.message)
    for message in unplaced or ([] if error.errors else [error.title]):
        form.add_error(None, message)


def quick_errors_attach(error: DomainError, form: QuickAskForm) -> None:
    fields = {
        "components[0].amounts.cores": "cores",
        "components[0].amounts.memory_gib": "memory_gib",
        "duration": "hours",
    }
    for item in error.errors or []:
        form.add_error(fields.get(item.path), item.message)
    if not error.errors:
        form.add_error(None, error.title)
