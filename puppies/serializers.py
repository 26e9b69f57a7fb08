"""Output, and hot input, through one serializer instance per class and process.

DRF builds a serializer's fields anew for every instance: for a ModelSerializer that is
most of the cost of answering one object (a post's body, a new comment). Output needs no
per-request state, so one instance serves every request and thread; so does validation
through `run_validation`, which keeps nothing on the instance (unlike `is_valid`).
"""

import functools

from rest_framework import serializers


@functools.cache
def _instance(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def represent(serializer_class: type[serializers.Serializer], instance) -> dict:
    """`serializer_class(instance).data`, for a serializer that reads no context."""
    return _instance(serializer_class).to_representation(instance)


def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """`serializer_class(data=data)`'s validated data, or the ValidationError `is_valid`
    raises (same body), for a serializer that reads no context and is not partial."""
    return _instance(serializer_class).run_validation(data)


class _StrictText:
    """Text only: DRF's CharField turns numbers into strings (`"bio": 0` saved "0"), which
    the schema, `type: string`, says are refused."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_StrictText, serializers.CharField):
    pass


class StrictRegexField(_StrictText, serializers.RegexField):
    pass
