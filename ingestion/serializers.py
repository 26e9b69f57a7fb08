from rest_framework import serializers

from ingestion.models import DeadLetter, IngestionRun, Source


class SourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = ["id", "name", "kind", "base_url", "enabled", "schedule"]


class SourceStatusSerializer(serializers.Serializer):
    source = serializers.CharField()
    source_id = serializers.IntegerField()
    enabled = serializers.BooleanField()
    status = serializers.CharField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    records_ingested = serializers.IntegerField()
    records_failed = serializers.IntegerField()
    dead_letters = serializers.IntegerField()


class StartedRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = IngestionRun
        fields = ["id", "status"]


class RunSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name")

    class Meta:
        model = IngestionRun
        fields = [
            "id",
            "source",
            "status",
            "started_at",
            "finished_at",
            "fetched",
            "created",
            "updated",
            "failed",
            "error",
        ]


class DeadLetterSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name")

    class Meta:
        model = DeadLetter
        fields = ["id", "source", "external_id", "error", "attempts", "next_attempt_at"]


class DeadLetterFilterSerializer(serializers.Serializer):
    source = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
