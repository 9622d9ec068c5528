"""The IVOA ExecutionBroker endpoints (DESIGN §7) as DRF views. Thin: parse, call the domain,
render.

Authentication is the native API's: `Authorization: Token <key>` or a logged-in session
(whose POSTs DRF's SessionAuthentication CSRF-checks). Anonymous calls get 401: every lease
needs an owner who alone (with staff) can see, accept and cancel it, so we do not book for
anonymous callers as the prototype does. Offer-set requests count against the native API's
per-user offer-set rate limit: the engine is the expensive call whichever interface asks.
"""

from django.urls import reverse
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.api.authentication import ApiTokenAuthentication
from bookings.api.exceptions import problem
from bookings.api.throttling import OfferSetThrottle
from bookings.choices import OfferSetResult, Phase
from bookings.domain.errors import DomainError
from bookings.domain.leases import lease_accept, lease_cancel, lease_for_user, lease_reject
from bookings.domain.offer_sets import offer_set_create
from bookings.domain.selectors import offer_set_for_user
from bookings.ivoa import formats, selectors, translate
from bookings.ivoa.exceptions import problem_exception_handler, problem_response

UPDATES = {
    Phase.ACCEPTED: lease_accept,
    Phase.REJECTED: lease_reject,
    Phase.CANCELLED: lease_cancel,
}


class IvoaView(APIView):
    """Token (first: an anonymous caller is told `WWW-Authenticate: Token`) or session; YAML
    and JSON as negotiated (JSON first: a problem for a client that accepts neither); every
    error a problem (bookings.ivoa.exceptions). `http_method_names` lists what a view takes."""

    authentication_classes = (ApiTokenAuthentication, SessionAuthentication)
    permission_classes = (IsAuthenticated,)
    parser_classes = (formats.YamlParser, formats.JsonParser)
    renderer_classes = (formats.JsonRenderer, formats.YamlRenderer)
    content_negotiation_class = formats.IvoaContentNegotiation
    throttle_classes = ()
    schema = None  # not part of the native API's OpenAPI document
    format_kwarg = None  # no format suffixes; set here too for a problem raised before initial()

    def get_exception_handler(self):
        return problem_exception_handler

    @property
    def default_response_headers(self) -> dict:
        # DRF sends Allow and Vary: Accept on every answer; ours send Allow with a 405 only
        return {}

    def initial(self, request, *args, **kwargs):
        # a method the endpoint does not take is 405 (naming those it does) before anything
        if request.method.lower() not in self.http_method_names:
            self.http_method_not_allowed(request)
        super().initial(request, *args, **kwargs)

    def url_for(self, collection: str, id_) -> str:
        base = self.request.build_absolute_uri(reverse("ivoa-offersets"))
        return f"{base.removesuffix('offersets')}{collection}/{id_}"

    def offerset_body(self, offer_set) -> dict:
        source, leases = selectors.offer_set_source(offer_set)
        return translate.offerset_render(source, leases, url=self.url_for)

    def session_body(self, lease_id) -> dict:
        lease = selectors.leases_with_parts().get(id=lease_id)
        return translate.session_render(selectors.lease_source(lease), url=self.url_for)

    def offer_set_create(self, request, *, max_offers: int):
        data, paths = translate.offerset_request_parse(
            formats.document(request), datasets=selectors.dataset_slugs(), max_offers=max_offers
        )
        try:
            return offer_set_create(owner=request.user, data=data, token=request.auth)
        except DomainError as error:
            error.errors = translate.ivoa_errors(error.errors, paths)
            raise


def _see_other(body: dict) -> Response:
    return Response(body, status=303, headers={"Location": body["meta"]["url"]})


class OfferSets(IvoaView):
    """An offer-set request: 303 to the new set, with the set as the body."""

    http_method_names = ["post"]
    throttle_classes = (OfferSetThrottle,)

    def post(self, request):
        return _see_other(self.offerset_body(self.offer_set_create(request, max_offers=4)))


class OfferSet(IvoaView):
    http_method_names = ["get"]

    def get(self, request, uuid: str):
        offer_set = offer_set_for_user(offer_set_id=uuid, user=request.user)
        return Response(self.offerset_body(offer_set))


class Session(IvoaView):
    """GET a session; POST an update of its phase (accept, reject, cancel)."""

    http_method_names = ["get", "post"]

    def get(self, request, uuid: str):
        lease = lease_for_user(lease_id=uuid, user=request.user)
        return Response(self.session_body(lease.id))

    def post(self, request, uuid: str):
        lease = lease_for_user(lease_id=uuid, user=request.user)
        phase = translate.update_parse(formats.document(request))
        UPDATES[phase](lease_id=lease.id, user=request.user)
        return Response(self.session_body(lease.id))


class Direct(IvoaView):
    """The best single offer, accepted at once: 303 to the session; 409 when nothing fits."""

    http_method_names = ["post"]
    throttle_classes = (OfferSetThrottle,)

    def post(self, request):
        offer_set = self.offer_set_create(request, max_offers=1)
        if offer_set.result == OfferSetResult.NO:
            return self.nothing_fits(self.offerset_body(offer_set))
        lease = offer_set.leases.order_by("rank").first()
        lease_accept(lease_id=lease.id, user=request.user)
        return _see_other(self.session_body(lease.id))

    def nothing_fits(self, body: dict) -> Response:
        messages = body["meta"].get("messages", [])
        refusal = problem(
            status=409,
            code="nothing-fits",
            title="Nothing fits this request in its window.",
            detail="; ".join(m["message"] for m in messages),
            extra={"messages": messages, "offerset": body["meta"]["url"]},
        )
        return problem_response(self.request, self, refusal)


class NotFound(IvoaView):
    """Every /ivoa/ path that is none of the interface's, whatever the method and whoever
    asks: a problem, never Django's HTML 404."""

    authentication_classes = ()
    permission_classes = ()

    def initial(self, request, *args, **kwargs):
        raise exceptions.NotFound(
            f"{request.path!r} is none of /ivoa/offersets, /ivoa/offersets/{{uuid}}, "
            "/ivoa/sessions/{uuid} and /ivoa/direct."
        )
