"""The staff-only ingestion endpoints (API.md, "Ingestion"): thin over services/selectors."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from ingestion import selectors, services
from ingestion.serializers import (
    DeadLetterFilterSerializer,
    DeadLetterSerializer,
    RunSerializer,
    SourceSerializer,
    SourceStatusSerializer,
    StartedRunSerializer,
)


class StaffView(GenericAPIView):
    permission_classes = [IsAdminUser]


class SourcesView(StaffView):
    serializer_class = SourceSerializer

    @extend_schema(tags=["ingestion"], responses=SourceSerializer(many=True))
    def get(self, request):
        return Response(SourceSerializer(selectors.sources(), many=True).data)


class StatusView(StaffView):
    serializer_class = SourceStatusSerializer

    @extend_schema(tags=["ingestion"], responses=SourceStatusSerializer(many=True))
    def get(self, request):
        return Response(SourceStatusSerializer(selectors.status(), many=True).data)


class StartRunView(StaffView):
    serializer_class = StartedRunSerializer

    @extend_schema(
        tags=["ingestion"],
        request=None,
        responses={202: StartedRunSerializer},
        description="Starts a run, or answers the source's run already queued or running.",
    )
    def post(self, request, source_id: int):
        source = selectors.sources().filter(pk=source_id).first()
        if source is None:
            raise NotFound("Source not found.")
        run, _ = services.start_run(source, trigger="api")
        return Response(StartedRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunView(StaffView):
    serializer_class = RunSerializer

    @extend_schema(tags=["ingestion"])
    def get(self, request, run_id: int):
        run = selectors.run(run_id)
        if run is None:
            raise NotFound("Run not found.")
        return Response(RunSerializer(run).data)


class DeadLettersView(ListAPIView):
    """Open dead letters (pending and given up), newest first."""

    permission_classes = [IsAdminUser]
    serializer_class = DeadLetterSerializer
    ordering = ("-id",)

    def get_queryset(self):
        query = DeadLetterFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.dead_letters(query.validated_data.get("source"))

    @extend_schema(
        tags=["ingestion"],
        parameters=[OpenApiParameter("source", int, description="Only this source's (its id).")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RetryDeadLetterView(StaffView):
    serializer_class = DeadLetterSerializer

    @extend_schema(tags=["ingestion"], request=None, responses={202: DeadLetterSerializer})
    def post(self, request, letter_id: int):
        letter = selectors.dead_letter(letter_id)
        if letter is None:
            raise NotFound("Dead letter not found.")
        letter = services.request_retry(letter)
        return Response(DeadLetterSerializer(letter).data, status=status.HTTP_202_ACCEPTED)
