"""REST API v1: one ViewSet per resource."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, Throttled, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from . import datasets, filters, models, search, serializers, services
from .datasets import claimreview
from .documents import public
from .exceptions import Conflict, PreconditionFailed, PreconditionRequired
from .history import changes_between, public_authors
from .pagination import SortKey, apply_ordering, ordering
from .permissions import is_publisher, sees_drafts

SLUG = re.compile(r"[-a-zA-Z0-9_]+")

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the record as you last read it (428 without it, 412 when stale).",
)


class ExportRenderer(BaseRenderer):
    """Lets ``?format=csv|jsonl|claimreview`` through DRF's content negotiation.

    The export views stream their own response and never render through it;
    their errors are rendered as JSON (see ``finalize_response``).
    """

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("export responses stream themselves")


def renderers(formats: dict[str, datasets.Format]) -> list[type[ExportRenderer]]:
    """A renderer for each export format, for DRF's content negotiation (``?format=``)."""
    return [
        type(f"{name.capitalize()}Renderer", (ExportRenderer,), {"media_type": f.media_type, "format": name})
        for name, f in formats.items()
    ]


FORMAT = OpenApiParameter("format", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Export format.")


def streaming_export(
    written: datasets.Written, export_format: datasets.Format, *, name: str, request
) -> StreamingHttpResponse:
    """The export's response; refused (429) while this client has ``API_EXPORTS_PER_CLIENT``
    exports streaming already (counted in the shared cache, released when each one ends).

    A COPY export makes its first chunk now, and an export built in Python reads its first
    chunk of rows (``written.rows``) now: an error then is still
    answered as any other (a 503 when the database is down). Once bytes are sent, an error ends
    the chunked body without its last chunk: clients see a broken transfer, never a
    complete-looking file. ``rows`` are closed when the body ends or the response is closed."""
    slot = acquire_export_slot(request)
    chunks, rows = written.chunks, written.rows

    def release():
        try:
            if rows is not None:
                rows.close()
        finally:
            slot()

    body = ReleasedWhenClosed(chunks, release)
    try:
        if rows is not None:
            rows.start()
        if export_format.streams == "copy":
            body.prime()
    except BaseException:
        body.close()
        raise
    extension = export_format.extension
    response = StreamingHttpResponse(body, content_type=f"{export_format.media_type}; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{extension}"'
    return response


# Longest an export's slot is held if its process dies without releasing it.
EXPORT_SLOT_SECONDS = 3600


def acquire_export_slot(request):
    """Take one of this client's export slots, or raise a 429; returns the release function."""
    user = request.user
    ident = f"user:{user.pk}" if user.is_authenticated else f"anon:{BaseThrottle().get_ident(request)}"
    key = f"claims:exports:{ident}"
    limit = settings.API_EXPORTS_PER_CLIENT
    cache.add(key, 0, EXPORT_SLOT_SECONDS)
    if cache.incr(key) > limit:
        cache.decr(key)
        raise Throttled(
            detail=f"At most {limit} exports may stream at once for one client: wait for one to finish."
        )
    cache.touch(key, EXPORT_SLOT_SECONDS)

    def release():
        with contextlib.suppress(ValueError):  # expired meanwhile
            if cache.decr(key) < 0:
                cache.set(key, 0, EXPORT_SLOT_SECONDS)

    return release


class ReleasedWhenClosed:
    """An export's chunks; ``release`` runs once, when they end or the response is closed (a
    client gone before the first chunk too, which a generator's ``finally`` would miss)."""

    def __init__(self, chunks: Iterable[Any], release: Callable[[], None]) -> None:
        self._chunks, self._release, self._released = iter(chunks), release, False
        self._primed: list[Any] = []

    def prime(self) -> None:
        """Make the first chunk now (it is handed out first)."""
        try:
            self._primed = [next(self._chunks)]
        except StopIteration:
            self._primed = []
        except BaseException:
            self.close()
            raise

    def __iter__(self):
        return self

    def __next__(self):
        if self._primed:
            return self._primed.pop()
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._released:
            return
        self._released = True
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            self._release()


def with_write_serializer(summary, write, read):
    """Document a ViewSet that takes ``write`` and answers with ``read``."""
    return extend_schema_view(
        list=extend_schema(summary=summary),
        create=extend_schema(request=write, responses={201: read}),
        update=extend_schema(request=write, responses=read),
        partial_update=extend_schema(request=write, responses=read),
    )


HISTORY_ORDERING = ordering(SortKey("history_date", descending=True), tiebreaker="history_id")


def etag(obj, document) -> str:
    """Changes whenever the record is saved (``updated_at`` moves on every save) and whenever
    anything its representation ``document`` shows changes, nested records included (a
    statement's claims and their verdicts, a claim's reviews)."""
    body = document if isinstance(document, bytes | str) else orjson.dumps(document, default=str)
    digest = hashlib.sha256(f"{obj.public_id}:{obj.updated_at.isoformat()}:".encode())
    digest.update(body.encode() if isinstance(body, str) else body)
    return f'"{digest.hexdigest()[:32]}"'


class CuratedViewSet(viewsets.ModelViewSet):
    """Lookup by public id, keyset-paginated lists, ETag/If-Match, history and restore."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    write_serializer_class: type[serializers.serializers.Serializer[Any]] | None = None
    default_ordering = "-updated_at"
    # Whether search results carry a highlighted ``snippet`` of their text.
    snippets = False

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update") and self.write_serializer_class:
            return self.write_serializer_class
        return self.serializer_class

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except (Http404, NotFound):
            # An unknown ?format= is a bad parameter, not a missing page.
            if self.action == "export":
                formats = ", ".join(r.format for r in self.get_renderers())
                raise ValidationError({"format": [f"Choose one of: {formats}."]}) from None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        # An export streams its own body; anything else it answers (an error) is JSON.
        exporting = self.action == "export" or isinstance(
            getattr(request, "accepted_renderer", None), ExportRenderer
        )
        if exporting and isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def get_object(self):
        """By public id; records with a slug (speakers, outlets, topics) also by slug."""
        value = self.kwargs[self.lookup_url_kwarg]
        queryset = self.filter_queryset(self.get_queryset())
        try:
            lookup = {"public_id": uuid.UUID(value)}
        except ValueError:
            # What is not a slug names nothing (and a NUL could not even be sent to PostgreSQL).
            if not any(f.name == "slug" for f in queryset.model._meta.fields) or not SLUG.fullmatch(value):
                raise Http404 from None
            lookup = {"slug": value}
        obj = queryset.filter(**lookup).first()
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj

    # ---- ordering and pagination

    def get_keyset_ordering(self, request):
        if self.action == "history":
            return "history", HISTORY_ORDERING
        filterset = self.filterset_class
        term = self.search_term()
        name = request.query_params.get("ordering") or (
            "relevance" if term and filterset.relevance else self.default_ordering
        )
        orderings = filterset.ORDERINGS
        if name not in orderings:
            raise ValidationError({"ordering": [f"Choose one of: {', '.join(orderings)}."]})
        if name == "relevance":
            if not term:
                raise ValidationError({"ordering": ["Ordering by relevance needs a search (q)."]})
            return name, filterset.relevance(term)
        return name, orderings[name]

    def search_term(self) -> str:
        return self.request.query_params.get("q", "").strip()

    def represent(self, objs) -> list[dict]:
        """How a list page or a read shows these records (the read serializer)."""
        return self.get_serializer(objs, many=True).data

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        data = self.represent(page)
        term = self.search_term()
        if term and self.snippets:
            # One more query for the page: where each result matched, highlighted.
            found = search.snippets(queryset.model, [obj.pk for obj in page], term)
            for obj, row in zip(page, data, strict=True):
                row["snippet"] = found.get(obj.pk, "")
        return self.get_paginated_response(data)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            name, keys = self.get_keyset_ordering(self.request)
            if name == "relevance" and self.filterset_class.bounded_relevance:
                queryset = search.newest_matches(queryset, self.search_term())
            queryset = apply_ordering(queryset, keys)
        return queryset

    # ---- concurrency

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        document = self.represent([instance])[0]
        tag = etag(instance, document)
        if request.headers.get("If-None-Match") == tag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return Response(document, headers={"ETag": tag})

    def current_etag(self, instance) -> str:
        """The ETag a GET of this record would answer this reader now."""
        action, self.action = self.action, "retrieve"
        try:
            document = self.represent([instance])[0]
        finally:
            self.action = action
        return etag(instance, document)

    def locked_object(self, request):
        """The record, locked until the transaction ends, if the client's ETag still matches.

        The row lock makes check-and-write atomic: of two requests sent with the
        same ETag, the second waits, then sees the new ETag and gets a 412.
        """
        instance = self.get_object()
        given = request.headers.get("If-Match", "").strip()
        if not given:
            raise PreconditionRequired()
        locked = type(instance).objects.select_for_update().filter(pk=instance.pk).first()
        if locked is None:
            # Deleted by a request that held the lock first: the precondition no longer holds.
            raise PreconditionFailed("The record was deleted since you read it.")
        # Compared with the record as it is now that it is locked, nested records read afresh.
        if given != "*" and given.removeprefix("W/") != self.current_etag(
            self.get_queryset().get(pk=locked.pk)
        ):
            raise PreconditionFailed()
        # Keep prefetched relations from get_object(), but the locked row's fields.
        for field in type(instance)._meta.concrete_fields:
            setattr(instance, field.attname, getattr(locked, field.attname))
        return instance

    @extend_schema(parameters=[IF_MATCH])
    @transaction.atomic
    def update(self, request, *args, **kwargs):
        instance = self.locked_object(request)
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        extra = {}
        if services.back_to_draft_if_an_editor_changed(
            instance, request.user, changed=services.changes_anything(instance, serializer.validated_data)
        ):
            extra["status"] = instance.status
        instance = serializer.save(updated_by=request.user, **extra)
        instance = self.get_queryset().get(pk=instance.pk)
        return Response(
            self.serializer_class(instance, context=self.get_serializer_context()).data,
            headers={"ETag": self.current_etag(instance)},
        )

    @extend_schema(parameters=[IF_MATCH])
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(
        parameters=[IF_MATCH],
        responses={204: None, 409: OpenApiResponse(description="Other records still refer to this one.")},
    )
    @transaction.atomic
    def destroy(self, request, *args, **kwargs):
        instance = self.locked_object(request)
        refused = services.deletion_refused(instance)
        if refused:
            raise Conflict(refused)
        instance._history_user = request.user
        instance.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The answer is read inside the transaction: a write is either acknowledged with 201 or
        # not applied (the load test found writes saved but answered 503 when the database
        # went away between the commit and the read).
        with transaction.atomic():
            instance = serializer.save(created_by=request.user, updated_by=request.user)
            instance = self.get_queryset().get(pk=instance.pk)
            data = self.serializer_class(instance, context=self.get_serializer_context()).data
            tag = self.current_etag(instance)
        return Response(data, status=status.HTTP_201_CREATED, headers={"ETag": tag})

    # ---- history

    @extend_schema(
        summary="Versions of this record, newest first: who, when, what changed",
        responses=serializers.VersionSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, *args, **kwargs):
        instance = self.get_object()
        # Readers who see no drafts see only the versions that were public, compared with the
        # public version before them, and no curator's name (docs/api.md, "History").
        public = not sees_drafts(request.user, type(instance))
        history = instance.history.all()
        if public and isinstance(instance, models.StatusMixin):
            history = history.filter(status__in=models.StatusQuerySet.PUBLIC_STATUSES)
        versions = history.select_related("history_user").order_by("-history_date", "-history_id")
        page = self.paginate_queryset(versions)
        # Each version is compared with the one before it (the next older).
        older = {}
        if page:
            previous = list(
                history.filter(history_date__lte=page[-1].history_date)
                .exclude(history_id__in=[v.history_id for v in page])
                .order_by("-history_date", "-history_id")[:1]
            )
            chain = [*page, *previous]
            older = {v.history_id: chain[i + 1] for i, v in enumerate(chain[:-1])}
        authors = public_authors(page) if public else {}
        for version in page:
            version.changes = changes_between(version, older.get(version.history_id), public=public)
            if public:
                version.shown_user = authors[version.history_id]
            else:
                version.shown_user = version.history_user.username if version.history_user else None
        return self.get_paginated_response(serializers.VersionSerializer(page, many=True).data)

    @extend_schema(
        summary="Restore an earlier version (publishers only)",
        parameters=[IF_MATCH, OpenApiParameter("version", OpenApiTypes.INT, OpenApiParameter.PATH)],
        request=None,
    )
    @action(
        detail=True, methods=["post"], url_path=r"history/(?P<version>[0-9]+)/restore", filter_backends=[]
    )
    @transaction.atomic
    def restore(self, request, *args, version, **kwargs):
        if not is_publisher(request.user):
            raise PermissionDenied("Only publishers may restore earlier versions.")
        instance = self.locked_object(request)
        try:
            services.restore_version(record=instance, version=int(version), user=request.user)
        except instance.history.model.DoesNotExist:
            raise Http404 from None
        restored = self.get_queryset().get(pk=instance.pk)
        data = self.serializer_class(restored, context=self.get_serializer_context()).data
        return Response(data, headers={"ETag": self.current_etag(restored)})


@extend_schema_view(list=extend_schema(summary="List topics"))
class TopicViewSet(CuratedViewSet):
    serializer_class = serializers.TopicSerializer
    filterset_class = filters.TopicFilterSet
    default_ordering = "name"

    def get_queryset(self):
        return models.Topic.objects.all()


@extend_schema_view(list=extend_schema(summary="List outlets"))
class OutletViewSet(CuratedViewSet):
    serializer_class = serializers.OutletSerializer
    filterset_class = filters.OutletFilterSet
    default_ordering = "name"

    def get_queryset(self):
        return models.Outlet.objects.all()


@extend_schema_view(list=extend_schema(summary="List and search speakers"))
class SpeakerViewSet(CuratedViewSet):
    serializer_class = serializers.SpeakerSerializer
    filterset_class = filters.SpeakerFilterSet
    default_ordering = "name"

    def get_queryset(self):
        return models.Speaker.objects.prefetch_related(
            Prefetch("affiliations", models.Affiliation.objects.select_related("organisation"))
        )


@extend_schema_view(list=extend_schema(summary="List and search sources"))
class SourceViewSet(CuratedViewSet):
    serializer_class = serializers.SourceSerializer
    filterset_class = filters.SourceFilterSet
    default_ordering = "-published_on"

    def get_queryset(self):
        return models.Source.objects.select_related("outlet", "cites__outlet").prefetch_related(
            Prefetch("cited_by", models.Source.objects.only("id", "public_id", "cites_id"))
        )


def statement_relations(user):
    """What a statement shows of its neighbours, limited to what ``user`` may see."""
    visible_statements = models.Statement.objects.visible_to(user)
    return [
        Prefetch("speaker_roles", models.StatementSpeaker.objects.select_related("speaker")),
        "topics",
        Prefetch("appearances", models.Appearance.objects.select_related("source__outlet")),
        Prefetch(
            "outgoing_links",
            models.StatementLink.objects.filter(to_statement__in=visible_statements).select_related(
                "to_statement"
            ),
        ),
        Prefetch(
            "incoming_links",
            models.StatementLink.objects.filter(from_statement__in=visible_statements).select_related(
                "from_statement"
            ),
        ),
        Prefetch("claims", models.Claim.objects.visible_to(user)),
    ]


@with_write_serializer(
    "List, filter and search statements",
    serializers.StatementWriteSerializer,
    serializers.StatementSerializer,
)
class StatementViewSet(CuratedViewSet):
    serializer_class = serializers.StatementSerializer
    write_serializer_class = serializers.StatementWriteSerializer
    filterset_class = filters.StatementFilterSet
    default_ordering = "-said_on"
    snippets = True

    def get_queryset(self):
        user = self.request.user
        statements = models.Statement.objects.visible_to(user)
        if self.action == "list":
            # Only the page's keys: the filters and orderings then read indexes alone
            # (migration 0014); represent() reads the page's own rows by id.
            # (The ordering's plain columns; it is validated, and relevance built, later.)
            ordering = self.filterset_class.ORDERINGS.get(self.request.query_params.get("ordering")) or ()
            keys = [k.name for k in ordering if k.expression is None]
            return statements.only("id", "said_on", *keys)
        if self.action == "retrieve":
            fields = ["id", "public_id", "updated_at"]  # the ETag's
            if not sees_drafts(user, models.Statement):
                fields.append("public_document")
            return statements.only(*fields)
        return statements.prefetch_related(*statement_relations(user))

    def represent(self, objs) -> list:
        """Readers who see no drafts get each statement's stored public document as it
        is (the renderer writes it into the page unparsed); curators, whose view
        includes drafts, get it built live. Both are StatementSerializer's shape."""
        if self.action not in ("list", "retrieve"):
            return super().represent(objs)
        user = self.request.user
        if sees_drafts(user, models.Statement):
            return public.statements([obj.pk for obj in objs], user)
        if self.action == "list":
            stored = dict(
                models.Statement.objects.filter(pk__in=[obj.pk for obj in objs]).values_list(
                    "pk", "public_document"
                )
            )
            documents = [stored[obj.pk] for obj in objs]
        else:
            documents = [obj.public_document for obj in objs]
        if self.search_term():  # snippets will be added to each
            return [orjson.loads(cast(str, document)) for document in documents]
        return [orjson.Fragment(cast(str, document)) for document in documents]

    @extend_schema(
        summary="Export the filtered statements, unpaginated (CSV or JSON Lines)",
        parameters=[FORMAT],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/jsonl"): OpenApiTypes.STR},
    )
    @action(
        detail=False,
        methods=["get"],
        renderer_classes=renderers(datasets.STATEMENT_FORMATS),
        pagination_class=None,
    )
    def export(self, request):
        statements = self.filter_queryset(models.Statement.objects.visible_to(request.user)).order_by("id")
        # Straight from PostgreSQL's COPY: the fastest way out of the database.
        public_only = not sees_drafts(request.user, models.Statement)
        export_format = datasets.STATEMENT_FORMATS[request.accepted_renderer.format]
        written = export_format.write(statements, public_only=public_only)
        return streaming_export(written, export_format, name="statements", request=request)


@with_write_serializer(
    "List, filter and search claims", serializers.ClaimWriteSerializer, serializers.ClaimSerializer
)
class ClaimViewSet(CuratedViewSet):
    serializer_class = serializers.ClaimSerializer
    write_serializer_class = serializers.ClaimWriteSerializer
    filterset_class = filters.ClaimFilterSet
    default_ordering = "-created_at"
    snippets = True

    @extend_schema(
        summary="Export the filtered claims, unpaginated (CSV, JSON Lines, or ClaimReview JSON Lines)",
        parameters=[FORMAT],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/jsonl"): OpenApiTypes.STR,
            (200, "application/ld+json"): OpenApiTypes.STR,
        },
    )
    @action(
        detail=False,
        methods=["get"],
        renderer_classes=renderers(datasets.CLAIM_FORMATS),
        pagination_class=None,
    )
    def export(self, request):
        claims = self.filter_queryset(models.Claim.objects.visible_to(request.user)).order_by("id")
        reviews = models.Review.objects.visible_to(request.user)
        public_only = not sees_drafts(request.user, models.Statement)
        export_format = datasets.CLAIM_FORMATS[request.accepted_renderer.format]
        written = export_format.write(claims, public_only=public_only, reviews=reviews)
        return streaming_export(
            written,
            export_format,
            name="claims",
            request=request,
        )

    @extend_schema(
        summary="Has this been checked before? Existing claims ranked by similarity to a text",
        parameters=[serializers.SimilarClaimsQuerySerializer],
        responses=serializers.SimilarClaimsSerializer,
        filters=False,
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def similar(self, request):
        params = serializers.SimilarClaimsQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        claims = search.similar_claims(
            **params.validated_data,
            queryset=self.get_queryset(),
            public_only=not sees_drafts(request.user, models.Statement),
        )
        results = serializers.SimilarClaimSerializer(
            claims, many=True, context=self.get_serializer_context()
        ).data
        return Response({"next": None, "results": results})

    def get_queryset(self):
        user = self.request.user
        return (
            models.Claim.objects.visible_to(user)
            .select_related("statement")
            .prefetch_related(
                Prefetch(
                    "statement__speaker_roles", models.StatementSpeaker.objects.select_related("speaker")
                ),
                "topics",
                Prefetch("reviews", models.Review.objects.visible_to(user).select_related("reviewer")),
            )
        )


@with_write_serializer(
    "List and filter reviews", serializers.ReviewWriteSerializer, serializers.ReviewSerializer
)
class ReviewViewSet(CuratedViewSet):
    serializer_class = serializers.ReviewSerializer
    write_serializer_class = serializers.ReviewWriteSerializer
    filterset_class = filters.ReviewFilterSet
    default_ordering = "-published_on"

    @extend_schema(
        summary="This review as schema.org ClaimReview JSON-LD, to embed on a fact-check page",
        responses={(200, "application/ld+json"): OpenApiTypes.OBJECT},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def claimreview(self, request, *args, **kwargs):
        review = self.get_object()
        public_only = not sees_drafts(request.user, models.Statement)
        return Response(
            claimreview.claimreview(review, public_only=public_only), content_type="application/ld+json"
        )

    def get_queryset(self):
        user = self.request.user
        return (
            models.Review.objects.visible_to(user)
            .filter(claim__in=models.Claim.objects.visible_to(user))
            .select_related("claim", "reviewer")
            .prefetch_related(Prefetch("evidence", models.Source.objects.select_related("outlet")))
        )
