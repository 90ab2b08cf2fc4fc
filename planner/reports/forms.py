"""The report subscription form: recipients typed one per line or comma-separated, sections as checkboxes."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .models import ReportSubscription, Section


class RecipientsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        addresses = [a for a in re.split(r"[\s,;]+", value or "") if a]
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"{address!r} is not an email address.") from None
        if not addresses:
            raise ValidationError("Give at least one recipient address.")
        return addresses


class ReportSubscriptionForm(forms.ModelForm):
    recipients = RecipientsField(help_text="One address per line, or separated by commas.")
    sections = forms.MultipleChoiceField(choices=Section.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ReportSubscription
        fields = ["name", "recipients", "cadence", "send_time", "timezone", "weekday", "monthday", "sections"]
        fields += ["format", "enabled"]
        widgets = {
            "send_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "weekday": forms.Select(
                choices=list(enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]))
            ),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organization = organization

    def clean_sections(self):
        return sorted(self.cleaned_data["sections"], key=Section.values.index)
