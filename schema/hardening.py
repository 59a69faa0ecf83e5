"""What the GraphQL layer refuses before running anything.

- Documents too deep, with too many aliases or too many tokens (every mode: the limits
  come from the settings).
- More than one sign-in field per document: aliases would turn one request into many OTP
  guesses (every mode).
- Introspection and "Did you mean ...?" hints (production only: GraphiQL needs them).

Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` walk a fragment again at every
spread, so fragments that spread the next one twice cost 2^n (twenty of them: seconds of
CPU per request, well inside the token limit), and a spread of an unknown fragment raises
``KeyError``. The rule here measures each fragment once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension

from hub.settings import Settings

# Root Mutation fields that sign someone in or hand out tokens: one per document, so a
# code or a secret is guessed at most once a request (and the rate limits count requests).
SENSITIVE_FIELDS = frozenset({"requestOtp", "verifyOtp", "refreshToken", "clientToken"})
# Introspection (__schema, __type) is answered in dev only; GraphiQL's query nests ofType
# nine deep, so those subtrees get this allowance instead of HUB_MAX_QUERY_DEPTH.
INTROSPECTION_DEPTH = 16
# Fragments spreading fragments spreading ...: refused beyond this rather than walked.
MAX_FRAGMENT_NESTING = 32
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_META_FIELDS = frozenset({"__schema", "__type"})

ExtensionFactory = type[SchemaExtension] | Callable[[], SchemaExtension]


def extensions(settings: Settings) -> list[ExtensionFactory]:
    """The schema extensions that apply the limits of ``settings``."""
    rules: list[type[ASTValidationRule]] = [
        document_limits(settings.max_query_depth, settings.max_aliases),
        OneSignInField,
    ]
    if settings.is_production:
        rules.append(NoIntrospection)
    # The same rule classes on every request: ValidationCache keys its entries on them.
    frozen = tuple(rules)
    tokens = settings.max_query_tokens
    return [
        lambda: MaxTokensLimiter(max_token_count=tokens),
        lambda: AddValidationRules(list(frozen)),
    ]


def hide_suggestions(errors: Iterable[GraphQLError]) -> None:
    """Drop "Did you mean ...?" from every message: unknown fields, arguments, types, enum
    values and input fields alike. Strawberry's own switch covers unknown fields only."""
    for error in errors:
        if "Did you mean" in error.message:
            error.message = _SUGGESTION.sub("", error.message)


CONCEALED = "The operation does not match the published schema."


def conceal_schema(errors: list[GraphQLError]) -> None:
    """Production: graphql-core's own validation and variable errors name types, fields and
    arguments ("Field 'x' of type '[Department!]!' must have a selection of subfields"),
    enough for a tool such as Clairvoyance to rebuild the schema without introspection.
    They become one error without locations; syntax errors and the hub's own (with a code)
    say nothing of the schema and stay."""
    concealed = False
    kept: list[GraphQLError] = []
    for error in errors:
        own = error.original_error is not None or (error.extensions or {}).get("code")
        if own or error.message.startswith("Syntax Error"):
            kept.append(error)
        elif not concealed:
            concealed = True
            error.message = CONCEALED
            error.locations = None
            error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}
            kept.append(error)
    errors[:] = kept


@dataclass(frozen=True)
class _Size:
    depth: int  # fields on the longest path that does not enter __schema or __type
    meta: int  # fields on the longest path that does (0: none)
    aliases: int


_EMPTY = _Size(0, 0, 0)


class _Measure:
    """Depth and aliases of a document's selection sets. Each fragment is measured once,
    however often it is spread; the walk stops ``cap`` fields down, since anything deeper
    is refused anyway."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], cap: int) -> None:
        self.fragments = fragments
        self.cap = cap
        self.measured: dict[str, _Size] = {}
        self.open: list[str] = []
        self.too_nested = False

    def selection_set(self, node: SelectionSetNode, room: int) -> _Size:
        """``room``: fields we may still go down; a deeper answer is ``room + 1``."""
        depth = meta = aliases = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                size = self.field(selection, room)
            elif isinstance(selection, InlineFragmentNode):
                size = self.selection_set(selection.selection_set, room)
            elif isinstance(selection, FragmentSpreadNode):
                size = self.fragment(selection.name.value)
                size = _Size(min(size.depth, room + 1), min(size.meta, room + 1), size.aliases)
            else:  # pragma: no cover - graphql-core has no other selection
                continue
            depth, meta = max(depth, size.depth), max(meta, size.meta)
            aliases += size.aliases
        return _Size(depth, meta, aliases)

    def field(self, node: FieldNode, room: int) -> _Size:
        alias = 1 if node.alias is not None else 0
        if node.selection_set is None:
            return _Size(1, 0, alias)
        if room <= 1:
            return _Size(2, 0, alias)  # deeper than allowed: no need to look further
        inner = self.selection_set(node.selection_set, room - 1)
        if node.name.value in _META_FIELDS:
            return _Size(1, 1 + max(inner.depth, inner.meta), alias + inner.aliases)
        meta = 1 + inner.meta if inner.meta else 0
        return _Size(1 + inner.depth, meta, alias + inner.aliases)

    def fragment(self, name: str) -> _Size:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open:
            return _EMPTY  # unknown or cyclic: graphql-core's own rules report those
        if len(self.open) >= MAX_FRAGMENT_NESTING:
            self.too_nested = True
            return _EMPTY
        self.open.append(name)
        try:
            size = self.selection_set(definition.selection_set, self.cap)
        finally:
            self.open.pop()
        self.measured[name] = size
        return size


def document_limits(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A rule refusing operations deeper than ``max_depth`` fields or with more than
    ``max_aliases`` aliases (an alias in a fragment counts at every spread)."""
    cap = max(max_depth, INTROSPECTION_DEPTH)

    class DocumentLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            definitions = context.document.definitions
            fragments = {
                d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)
            }
            measure = _Measure(fragments, cap)
            for operation in definitions:
                if isinstance(operation, OperationDefinitionNode):
                    self.check(operation, measure.selection_set(operation.selection_set, cap))
            if measure.too_nested:
                self.refuse(
                    f"Fragments are nested more than {MAX_FRAGMENT_NESTING} deep.",
                    "FRAGMENTS_TOO_NESTED",
                    [],
                )

        def check(self, operation: OperationDefinitionNode, size: _Size) -> None:
            name = f"Operation '{operation.name.value}'" if operation.name else "The operation"
            if size.depth > max_depth:
                self.refuse(
                    f"{name} nests fields more than {max_depth} deep.",
                    "QUERY_TOO_DEEP",
                    [operation],
                )
            if size.meta > INTROSPECTION_DEPTH:
                self.refuse(
                    f"{name} nests introspection more than {INTROSPECTION_DEPTH} deep.",
                    "QUERY_TOO_DEEP",
                    [operation],
                )
            if size.aliases > max_aliases:
                self.refuse(
                    f"{name} has {size.aliases} aliases; at most {max_aliases} are allowed.",
                    "TOO_MANY_ALIASES",
                    [operation],
                )

        def refuse(self, message: str, code: str, nodes: list[Any]) -> None:
            self.report_error(GraphQLError(message, nodes, extensions={"code": code}))

    return DocumentLimits


class NoIntrospection(ValidationRule):
    """Refuse __schema and __type (once per document; graphql-core's rule reports every
    field under them). __typename stays: clients use it to tell types apart."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.reported = False

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value in _META_FIELDS and not self.reported:
            self.reported = True
            self.report_error(
                GraphQLError(
                    "Introspection is disabled on this server.",
                    node,
                    extensions={"code": "INTROSPECTION_DISABLED"},
                )
            )


class OneSignInField(ValidationRule):
    """At most one of SENSITIVE_FIELDS on the root Mutation per document, aliased or not.
    Every execution of a field needs its own field node (two spreads of one fragment merge
    into one), so counting nodes counts executions."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.seen: Counter[str] = Counter()
        self.nodes: list[FieldNode] = []

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value not in SENSITIVE_FIELDS:
            return
        mutation = self.context.schema.mutation_type
        if mutation is None or self.context.get_parent_type() is not mutation:
            return
        self.seen[node.name.value] += 1
        self.nodes.append(node)

    def leave_document(self, *_args: object) -> None:
        if sum(self.seen.values()) <= 1:
            return
        found = ", ".join(f"'{name}' {_times(count)}" for name, count in sorted(self.seen.items()))
        self.report_error(
            GraphQLError(
                f"A document may hold one sign-in field ({', '.join(sorted(SENSITIVE_FIELDS))}),"
                f" aliased or not; this one has {found}. Send one sign-in operation per request.",
                self.nodes,
                extensions={"code": "ONE_SIGN_IN_FIELD"},
            )
        )


def _times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


__all__ = [
    "SENSITIVE_FIELDS",
    "NoIntrospection",
    "OneSignInField",
    "conceal_schema",
    "document_limits",
    "extensions",
    "hide_suggestions",
]
