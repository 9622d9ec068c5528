"""The notices pages: the list (read on open), preferences, one-click unsubscribe, and the
staff-only view of `make run`'s embedded mail sink."""

from email import policy
from email.parser import BytesParser

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from bookings.domain.errors import DomainError
from notices.choices import Choice
from notices.domain.content import notice_content
from notices.domain.preferences import (
    preferences_for_user,
    preferences_set,
    preferences_unsubscribe,
    user_for_unsubscribe_token,
)
from notices.domain.selectors import notices_for_user, notices_mark_read
from notices.web.forms import PreferencesForm

PAGE = 25


@login_required
@require_GET
def notice_list(request):
    page = Paginator(notices_for_user(user=request.user), PAGE).get_page(request.GET.get("page"))
    zone = timezone.get_current_timezone()  # the user's, activated by UserTimezoneMiddleware
    rows = [(n, notice_content(n, zone=zone), n.read_at is None) for n in page]
    # Opened: what this page shows is read now (shown as new this once).
    notices_mark_read(user=request.user, ids=[n.id for n, _, unread in rows if unread])
    return render(request, "notices/list.html", {"page": page, "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    current = preferences_for_user(user=request.user)
    form = PreferencesForm(request.POST or None, preferences=current)
    if request.method == "POST":
        if form.is_valid():
            try:
                preferences_set(user=request.user, choices=form.cleaned_data)
            except DomainError as exc:
                for error in exc.errors:
                    form.add_error(error.path if error.path in form.fields else None, error.message)
            else:
                messages.success(request, "Your notice preferences are saved.")
                return redirect("notices:preferences")
        return render(request, "notices/preferences.html", _context(form), status=400)
    return render(request, "notices/preferences.html", _context(form))


def _context(form) -> dict:
    return {"form": form, "choices": Choice.choices}


# RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` without a session or a CSRF
# token; the signed token in the URL is the proof. A GET only asks (link scanners follow GETs).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    user = user_for_unsubscribe_token(token)
    if user is None:
        return render(request, "notices/unsubscribe.html", {"invalid": True}, status=404)
    if request.method == "POST":
        preferences_unsubscribe(user=user)
        return render(request, "notices/unsubscribe.html", {"done": True, "who": user})
    return render(request, "notices/unsubscribe.html", {"who": user})


@staff_member_required
@require_GET
def dev_mail(request):
    """The messages the embedded mail sink received (newest first)."""
    folder = settings.MAIL_SINK_DIR
    files = sorted(folder.glob("*.eml"), reverse=True)[:200] if folder.is_dir() else []
    mails = [(path.name, _parse(path)) for path in files]
    return render(request, "notices/dev_mail.html", {"mails": mails, "folder": folder})


@staff_member_required
@require_GET
def dev_mail_message(request, name: str):
    path = settings.MAIL_SINK_DIR / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        raise Http404("No such message in the mail sink.")
    message = _parse(path)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    attachments = [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
    ]
    return render(
        request,
        "notices/dev_mail_message.html",
        {
            "name": name,
            "message": message,
            "headers": list(message.items()),
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
            "attachments": attachments,
        },
    )


def _parse(path):
    with path.open("rb") as f:
        return BytesParser(policy=policy.default).parse(f)
