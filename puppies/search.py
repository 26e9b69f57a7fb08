"""The `q` of every search endpoint (posts', users'): its OpenAPI parameter, its rate limit
and its validation. Each app says which queries its indexes can serve (`problem`)."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from puppies import ratelimit
from puppies.serializers import StrictCharField

SEARCH_QUERY_MAX_LENGTH = 200

Q_PARAMETER = OpenApiParameter(
    "q",
    {"type": "string", "minLength": 1, "maxLength": SEARCH_QUERY_MAX_LENGTH},
    required=True,
    description=f"What to look for, 1..{SEARCH_QUERY_MAX_LENGTH} characters.",
)


class SearchQuerySerializer(serializers.Serializer):
    """`q` of a search: refused (400 `fields.q`) when the index cannot serve it."""

    q = StrictCharField(min_length=1, max_length=SEARCH_QUERY_MAX_LENGTH)

    @staticmethod
    def problem(q: str) -> str | None:
        """Why the app's indexes cannot serve `q` (None: they can); a subclass says."""
        return None

    def validate_q(self, q: str) -> str:
        problem = self.problem(q)
        if problem:
            raise serializers.ValidationError(problem)
        return q


def read_search_query(request, serializer: type[SearchQuerySerializer]) -> str:
    """The request's valid `q` (400 otherwise), after the "search" rate limit."""
    ratelimit.enforce(request, "search")
    query = serializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["q"]
