"""Admin forms of the resources app."""

from django import forms

from adapters import ADAPTER_NAMES
from resources.models import Pool


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
