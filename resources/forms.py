"""Admin forms of the resources app."""

from django import forms

from adapters import ADAPTER_NAMES
from bookings.domain.errors import DomainError
from resources.choices import DIMENSIONS, DIMENSIONS_BY_KIND
from resources.domain.capacity import ADD, CHANGE, POOL, CapacityEdit, capacity_edit
from resources.models import CapacityChange, Pool


class PoolForm(forms.ModelForm):
    """The adapter is picked from the registry; the model's validator refuses any other name
    (a legacy row keeps showing its unknown name, marked so, until it is corrected)."""

    class Meta:
        model = Pool
        fields = [
            *("slug", "site", "kind", "enabled", "description"),
            *("cores", "memory_gib", "gpus", "size_gib", "readers"),
            *("adapter", "adapter_settings"),
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.initial.get("adapter")
        choices = [(name, name) for name in ADAPTER_NAMES]
        if current and current not in ADAPTER_NAMES:
            choices.append((current, f"{current} (unknown: pick one of the others)"))
        field = self.fields["adapter"]
        field.widget = forms.Select(choices=choices)
        field.help_text = f"One of the registered adapters: {', '.join(ADAPTER_NAMES)}."


def edit_errors(form: forms.Form, error: DomainError, fields: dict[str, str]) -> None:
    """A refused edit's errors on the form, each on its field (`fields` maps an error path
    to a form field; others go to the whole form)."""
    for item in error.errors or [None]:
        if item is None:
            form.add_error(None, error.title)
            continue
        name = fields.get(item.path) or fields.get(item.path.rsplit(".", 1)[-1])
        form.add_error(name if name in form.fields else None, f"{item.path}: {item.message}")


class CapacityChangeForm(forms.ModelForm):
    """A capacity change, checked by the service that writes it (`capacity_edit`): the same
    rules and messages as the API and `load_capacity`."""

    class Meta:
        model = CapacityChange
        fields = ["pool", "start", "end", *DIMENSIONS, "reason"]

    edit: CapacityEdit | None = None

    def clean(self):
        data = super().clean()
        pool = data.get("pool")
        if self.errors or pool is None:
            return data
        change = self.instance if self.instance.pk else None
        if change is not None and change.pool_id != pool.id:
            self.add_error("pool", "a capacity change cannot move to another pool")
            return data
        try:
            self.edit = capacity_edit(
                action=CHANGE if change else ADD,
                pool=pool,
                change=change,
                data={
                    "start": data.get("start"),
                    "end": data.get("end"),
                    "reason": data.get("reason") or "",
                    "capacity": {d: data.get(d) for d in DIMENSIONS if data.get(d) is not None},
                },
            )
        except DomainError as error:
            edit_errors(self, error, {"capacity": None, **{d: d for d in DIMENSIONS}})
        return data


class PoolEditForm(PoolForm):
    """An existing pool: its base capacity and `enabled` are written by the service
    (`capacity_edit(action="pool")`), with their impact first; the kind stays."""

    edit: CapacityEdit | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].disabled = True

    def clean(self):
        data = super().clean()
        pool = self.instance
        if self.errors:
            return data
        dims = DIMENSIONS_BY_KIND[pool.kind]
        capacity = {d: data.get(d) or 0 for d in dims}
        extra = [d for d in DIMENSIONS if d not in dims and data.get(d)]
        for d in extra:
            self.add_error(d, f"a {pool.kind} pool has no dimension {d!r}")
        if extra:
            return data
        changed = data.get("enabled") != pool.enabled or any(
            capacity[d] != getattr(pool, d) for d in dims
        )
        if changed:
            try:
                self.edit = capacity_edit(
                    action=POOL,
                    pool=pool,
                    data={"capacity": capacity, "enabled": bool(data.get("enabled"))},
                )
            except DomainError as error:
                edit_errors(self, error, {d: d for d in DIMENSIONS})
        return data
