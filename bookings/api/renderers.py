from rest_framework.renderers import BaseRenderer


class ICalendarRenderer(BaseRenderer):
    """Passes an already built iCalendar document through."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data
