from django import forms

from notices.choices import CHOOSABLE_KINDS, Choice


class PreferencesForm(forms.Form):
    """One choice per kind of notice: off, in the web, or in the web and by e-mail."""

    def __init__(self, *args, preferences, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in CHOOSABLE_KINDS:
            self.fields[kind.value] = forms.ChoiceField(
                label=kind.label.capitalize(),
                choices=Choice.choices,
                initial=preferences.choice(kind),
                widget=forms.RadioSelect,
            )
