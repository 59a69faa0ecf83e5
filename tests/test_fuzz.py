"""Generated GraphQL operations against a real ``hub serve`` in production mode on loopback.

Queries and mutations come from the committed SDL (hypothesis-graphql): valid ones, and
ones with one schema violation each; string and id arguments that name things
(registration numbers, category, boundary and department codes, user ids, mobiles) are
often swapped for values that exist, so the operations reach the services rather than stop
at "not found". Most go as ``{"query": ...}``; some in bodies a client may also send
(variables and operation names of any JSON shape, a query that is not GraphQL, a batch,
bytes that are not JSON). They are sent over HTTP anonymously and as a citizen, an
operator, a GRO, an LME, leadership and an admin (tokens from a real sign-in session),
each within REQUEST_SECONDS. Every answer must be
a JSON GraphQL answer with a status below 500, with no traceback, exception class or path
in it, and with no internal error behind it: the server's own log must stay free of error
records and tracebacks while the operation runs.

HUB_FUZZ_EXAMPLES: operations in all (default 150, shared by the actors; ``make fuzz``
sends 1,200). HUB_FUZZ_SEED: unset, the run is derandomized (the same operations on every
run, as CI needs); ``random``, a fresh seed, printed; a number, that seed again (to replay
what a ``make fuzz`` run found). Hypothesis keeps no example database here.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes
from hypothesis_graphql import strategies as gql_st

from tests.fuzzing.seed import ACTORS as SIGNED_IN
from tests.fuzzing.server import Hub, Server

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
SDL = (ROOT / "schema" / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SDL)
EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "150"))
SEED_SETTING = os.environ.get("HUB_FUZZ_SEED", "").strip()
SEED = random.randrange(2**32) if SEED_SETTING == "random" else int(SEED_SETTING or 0)
ACTORS = ("anonymous", *SIGNED_IN)
REQUEST_SECONDS = 10.0  # one operation's bound, from sending it to its whole answer
TOKEN_REFRESH_SECONDS = 600  # access tokens live 900 s at most
# A signed-in actor never signs itself out mid-run (anonymous tries signOut).
assert SCHEMA.query_type is not None and SCHEMA.mutation_type is not None
QUERY_FIELDS = tuple(SCHEMA.query_type.fields)
MUTATION_FIELDS = tuple(SCHEMA.mutation_type.fields)
SIGNED_IN_MUTATIONS = tuple(name for name in MUTATION_FIELDS if name != "signOut")
CUSTOM_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "Date": st.dates().map(nodes.String),
    # an upload can only arrive as a multipart part; whatever a JSON body holds is refused
    "Upload": st.text(max_size=20).map(nodes.String) | st.integers().map(nodes.Int),
}
# Arguments and input fields whose generated value is, half the time, replaced by one that
# exists (keys of the seed's targets).
AIMED = {
    "registrationNumber": "registration_numbers",
    "categoryCode": "category_codes",
    "parentCode": "category_codes",
    "boundaryCode": "boundary_codes",
    "departmentCode": "department_codes",
    "assigneeId": "user_ids",
    "mobile": "mobiles",
    "citizenMobile": "mobiles",
}
# What no answer may show: a trace, a source path, a Python or driver exception's name.
# The schema's own type names ending in Error (UserError) are words of the API.
LEAKS = re.compile(
    r"Traceback|File \"|site-packages|/work/|[\w/]\.py\b|\bline \d+, in\b"
    r"|\b\w+(?:Error|Exception)\b|\b(?:DoesNotExist|MultipleObjectsReturned)\b"
)
API_WORDS = frozenset(SCHEMA.type_map)
MASKED = "Internal error."

STATS: Counter[str] = Counter()
SENT: Counter[str] = Counter()


class FuzzHub:
    """The prepared hub, its fuzzing server, and tokens kept fresh."""

    def __init__(self, hub: Hub, server: Server) -> None:
        self.hub = hub
        self.server = server
        self._tokens: dict[str, str] = {}
        self._issued = 0.0

    def token(self, actor: str) -> str | None:
        if actor == "anonymous":
            return None
        if time.monotonic() - self._issued > TOKEN_REFRESH_SECONDS:
            self._tokens, self._issued = self.hub.tokens(), time.monotonic()
        return self._tokens[actor]


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    return Hub.prepare(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="session")
def fuzz_hub(hub: Hub, request: pytest.FixtureRequest) -> Iterator[FuzzHub]:
    with hub.serve() as server:
        yield FuzzHub(hub, server)
    if SENT:
        report(request.config)


def report(config: pytest.Config) -> None:
    """How many operations went out and what came back, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    seeded = f"seed {SEED} (HUB_FUZZ_SEED={SEED} replays it)" if SEED_SETTING else "derandomized"
    lines = [
        f"fuzz: {sum(SENT.values())} operations sent to hub serve in production mode, {seeded}",
        f"fuzz: by actor: {dict(sorted(SENT.items()))}",
        f"fuzz: answers: {dict(sorted(STATS.items()))}",
    ]
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def _share(actor: str) -> int:
    """This actor's part of EXAMPLES (the first ones take the remainder)."""
    base, extra = divmod(EXAMPLES, len(ACTORS))
    return max(1, base + (1 if ACTORS.index(actor) < extra else 0))


def _operations(actor: str) -> st.SearchStrategy[str]:
    """Valid operations on one root field (so that one refused field does not stand for the
    whole answer, and the deep resolvers run), valid ones on several, and ones with one
    schema violation each."""
    scalars = CUSTOM_SCALARS
    mutation_fields = SIGNED_IN_MUTATIONS if actor != "anonymous" else None
    one_mutation = mutation_fields or MUTATION_FIELDS
    single = [gql_st.queries(SCHEMA, fields=(f,), custom_scalars=scalars) for f in QUERY_FIELDS]
    single += [gql_st.mutations(SCHEMA, fields=(f,), custom_scalars=scalars) for f in one_mutation]
    groups = [
        _pick(single),
        _pick(single),
        gql_st.queries(SCHEMA, custom_scalars=scalars),
        gql_st.mutations(SCHEMA, fields=mutation_fields, custom_scalars=scalars),
        gql_st.queries(SCHEMA, custom_scalars=scalars, mode=Mode.NEGATIVE),
        gql_st.mutations(
            SCHEMA, fields=mutation_fields, custom_scalars=scalars, mode=Mode.NEGATIVE
        ),
    ]
    return _pick(groups)


def _pick(strategies: list[st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of ``strategies``, each as likely (``st.one_of`` would flatten nested choices and
    weigh every leaf alike)."""
    return st.sampled_from(strategies).flatmap(lambda chosen: chosen)


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def envelopes(document: str) -> st.SearchStrategy[Any]:
    """The request body: mostly ``{"query": document}``; now and then what else a client
    may send (variables and an operation name of any JSON shape, a query that is not
    GraphQL or not a string, a batch, bytes that are not JSON)."""
    plain: st.SearchStrategy[Any] = st.just({"query": document})
    return _pick(
        [
            *[plain] * 6,
            st.builds(lambda v: {"query": document, "variables": v}, JSON_VALUES),
            st.builds(lambda n: {"query": document, "operationName": n}, JSON_VALUES),
            st.builds(lambda q: {"query": q}, st.text(max_size=60) | JSON_VALUES),
            st.just([{"query": document}, {"query": document}]),
            st.binary(max_size=60),
        ]
    )


class _Aim(graphql.Visitor):
    """Swaps some values of AIMED arguments for ones that exist."""

    def __init__(self, draw: Callable[..., Any], targets: dict[str, list[Any]]) -> None:
        super().__init__()
        self.draw = draw
        self.targets = targets

    def _aim(self, node: Any, *_args: object) -> Any:
        pool = self.targets.get(AIMED.get(node.name.value, ""), [])
        if not pool or not isinstance(node.value, graphql.StringValueNode | graphql.IntValueNode):
            return None
        if not self.draw(st.booleans(), label=f"aim {node.name.value}"):
            return None
        value = self.draw(st.sampled_from(pool), label=node.name.value)
        new = nodes.Int(value) if isinstance(value, int) else nodes.String(value)
        return replace(node, value=new)  # AST nodes are frozen

    enter_argument = enter_object_field = _aim


def aimed(document: str, draw: Callable[..., Any], targets: dict[str, list[Any]]) -> str:
    try:
        parsed = graphql.parse(document)
    except graphql.GraphQLSyntaxError:
        return document
    return graphql.print_ast(graphql.visit(parsed, _Aim(draw, targets)))


def problems(response: httpx.Response) -> list[str]:
    """What is wrong with one answer (nothing, for a clean one)."""
    found = []
    if response.status_code >= 500:
        found.append(f"status {response.status_code}")
    text = response.text
    if not response.headers.get("content-type", "").startswith("application/json"):
        found.append(f"content-type {response.headers.get('content-type')!r}")
    try:
        body = json.loads(text)
    except ValueError:
        return [*found, f"not JSON: {text[:300]!r}"]
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        found.append(f"not a GraphQL answer: {text[:300]}")
        return found
    if "Traceback" in text or 'File "' in text:
        found.append("a traceback in the answer")
    errors = body.get("errors") or []
    if response.status_code >= 400 and not errors:
        found.append(f"status {response.status_code} without errors")
    for error in errors:
        message = str(error.get("message", ""))
        if message == MASKED:
            found.append(f"a masked internal error at {error.get('path')}")
        leaks = [m for m in LEAKS.findall(message) if m not in API_WORDS]
        if leaks:
            found.append(f"internals in an error message {leaks}: {message[:300]!r}")
        extensions = error.get("extensions") or {}
        if {"exception", "stacktrace", "traceback"} & set(extensions):
            found.append(f"exception details in extensions: {sorted(extensions)}")
    return found


class LogTail:
    """Lines the server logged since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def new_problems(self) -> list[str]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        # a line still being written stays for the next look
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        lines = complete.decode(errors="replace").splitlines()
        return [line for line in lines if _is_problem(line)]


# Error records that are the hub working as designed, by logger and message.
EXPECTED_ERRORS = {
    # a notification that ran out of attempts (the SMS gateway is a closed port) is DEAD:
    # logged at error on purpose, for alerting
    ("hub.outbox", "outbox message is DEAD"),
}


def _is_problem(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return "Traceback" in line
    if not isinstance(entry, dict):
        return "Traceback" in line
    if "Traceback" in line or "exc" in entry:
        return True
    level = str(entry.get("level", "")).lower()
    expected = (entry.get("logger"), entry.get("msg")) in EXPECTED_ERRORS
    return level in {"error", "critical"} and not expected


def barrier(http: httpx.Client) -> None:
    """Wait until the server has logged all about the last request: it logs a failure after
    answering, then closes the connection, so the next request on that connection is
    answered (or reset) only once the lines are written."""
    for _ in range(3):
        try:
            http.get("/healthz")
            return
        except httpx.TransportError:
            continue


def _tally(actor: str, response: httpx.Response) -> None:
    SENT[actor] += 1
    STATS[f"http {response.status_code}"] += 1
    try:
        body = response.json()
    except ValueError:
        return
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0]
        code = (first.get("extensions") or {}).get("code")
        if not code:  # graphql-core's validation and coercion errors carry no code
            code = "validation: " + re.sub(r"['\"].*", "", str(first.get("message", "")))[:40]
        STATS[f"error {code.strip()}"] += 1
    elif isinstance(body, dict) and body.get("data") is not None:
        STATS["data, no errors"] += 1


@pytest.mark.parametrize("actor", ACTORS)
def test_generated_operations_get_clean_answers(fuzz_hub: FuzzHub, actor: str) -> None:
    server = fuzz_hub.server
    targets = fuzz_hub.hub.targets
    fuzz_hub.token(actor)  # signed in before the first example, not inside it
    tail = LogTail(server.log_path)
    strategy = _operations(actor)
    configured = settings(
        max_examples=_share(actor),
        database=None,
        derandomize=not SEED_SETTING,
        deadline=None,  # each request has its own bound (REQUEST_SECONDS)
        # generating from a whole schema is slow and big by nature
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
        # no "explain" phase: it replays the failure many times against the server
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        print_blob=False,
    )

    with httpx.Client(base_url=server.url, timeout=REQUEST_SECONDS) as http:

        def run(data: st.DataObject) -> None:
            document = aimed(data.draw(strategy, label="operation"), data.draw, targets)
            body = data.draw(envelopes(document), label="request body")
            token = fuzz_hub.token(actor)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            started = time.monotonic()
            try:
                if isinstance(body, bytes):
                    headers["Content-Type"] = "application/json"
                    response = http.post("/graphql", content=body, headers=headers)
                else:
                    response = http.post("/graphql", json=body, headers=headers)
            except httpx.TimeoutException:
                pytest.fail(f"no answer in {REQUEST_SECONDS} s to:\n{body!r}")
            barrier(http)
            _tally(actor, response)
            logged = tail.new_problems()
            found = problems(response)
            if token and response.status_code == 401:
                found.append("a fresh token was refused")
            if logged:
                found.append("the server logged:\n" + "\n".join(logged)[:4000])
            shown = document if body == {"query": document} else repr(body)[:3000]
            assert not found, (
                f"{actor}: {'; '.join(found)}\n"
                f"after {time.monotonic() - started:.2f} s, HTTP {response.status_code}:"
                f" {response.text[:1500]}\nrequest:\n{shown}"
            )

        test = given(st.data())(run)
        test = seed(SEED)(configured(test)) if SEED_SETTING else configured(test)
        test()


def test_rate_limit_answers_are_clean_json(hub: Hub) -> None:
    """A hub with low limits: the 429s are GraphQL errors in JSON with a Retry-After, per
    signed-in actor and per address (the fuzzing server's limits are out of reach)."""
    tokens = hub.tokens()
    query = {"query": "{ departments { code } }"}
    with (
        hub.serve(HUB_RATE_LIMIT_PER_IP="40", HUB_RATE_LIMIT_PER_ACTOR="5") as server,
        httpx.Client(base_url=server.url, timeout=REQUEST_SECONDS) as http,
    ):
        for who, headers in (
            ("actor", {"Authorization": f"Bearer {tokens['citizen']}"}),
            ("address", {}),
        ):
            # a window may turn over mid-burst: go on until refused, a bounded number of times
            for _ in range(100):
                response = http.post("/graphql", json=query, headers=headers)
                if response.status_code == 429:
                    break
                assert response.status_code == 200, response.text
            else:
                pytest.fail(f"no 429 per {who} in 100 requests")
            assert problems(response) == [], response.text
            assert response.json()["errors"][0]["message"], response.text
            assert int(response.headers["Retry-After"]) >= 1
        assert server.log_problems() == []
