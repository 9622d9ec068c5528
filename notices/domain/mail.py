"""A notice as one e-mail: plain text and HTML, threaded per lease, with the lease's calendar
event as an iTIP attachment and a one-click unsubscribe (RFC 8058)."""

from email.mime.text import MIMEText
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse

from bookings.domain.ical import itip_method, lease_itip
from bookings.domain.isotime import parse_instant
from notices.domain.content import notice_content, site_url, user_zone
from notices.domain.preferences import unsubscribe_token
from notices.models import Notice

# Earlier messages of a thread named in References: the first and the latest few.
REFERENCES = 10


def message_id(notice_id) -> str:
    return f"<{notice_id}@{urlsplit(settings.SITE_URL).hostname or 'localhost'}>"


def _thread(notice: Notice) -> list[str]:
    """The Message-IDs of the lease's earlier notices that went to this user by e-mail."""
    if not notice.lease_id:
        return []
    earlier = list(
        Notice.objects.filter(
            lease_id=notice.lease_id,
            user_id=notice.user_id,
            created__lt=notice.created,
            deliveries__channel="email",
        )
        .order_by("created", "id")
        .values_list("id", flat=True)
    )
    if len(earlier) > REFERENCES:
        earlier = [earlier[0], *earlier[-(REFERENCES - 1) :]]
    return [message_id(i) for i in earlier]


def notice_email(notice: Notice) -> EmailMultiAlternatives:
    user = notice.user
    zone = user_zone(user)
    content = notice_content(notice, zone=zone)
    unsubscribe = site_url(reverse("notices:unsubscribe", args=[unsubscribe_token(user)]))
    context = {
        "content": content,
        "user": user,
        "zone": str(zone),
        "unsubscribe": unsubscribe,
        "preferences": site_url(reverse("notices:preferences")),
    }
    headers = {
        "Message-ID": message_id(notice.id),
        "Auto-Submitted": "auto-generated",
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-WhenCanIDoThis-Kind": notice.kind,
    }
    thread = _thread(notice)
    if thread:
        headers["In-Reply-To"] = thread[-1]
        headers["References"] = " ".join(thread)
    message = EmailMultiAlternatives(
        subject=f"[WhenCanIDoThis?] {content.subject}",
        body=render_to_string("notices/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers=headers,
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    message.attach_alternative(render_to_string("notices/email.html", context), "text/html")
    if notice.lease_id and "version" in notice.data:
        message.attach(_itip(notice))
    return message


def _itip(notice: Notice) -> MIMEText:
    data = notice.data
    ics = lease_itip(
        notice.lease,
        phase=data["phase"],
        sequence=data["version"],
        start=parse_instant(data["start"]),
        end=parse_instant(data["end"]),
        attendee=notice.user.email,
    )
    part = MIMEText(ics.decode(), "calendar", "utf-8")
    part.set_param("method", itip_method(data["phase"]))
    part.add_header("Content-Disposition", "attachment", filename="invite.ics")
    return part
