"""The game day's other bad changes to the apps repo, each as a developer would make it: a feature
whose tests pass (and so does CI) but that fails once deployed, each in its own way.

- CRASHLOOP: the frontend signs session cookies with a key from a new variable, SESSION_SECRET,
  and refuses to start without it (a configuration error: `python -m probe` exits 2). The tests'
  support code sets the variable for every config and every process it starts; no Deployment
  does. Deployed, the new pod exits at start-up, again and again: CrashLoopBackOff.
- ERROR_RATE: the frontend protects its backend with a request budget per process
  (REQUESTS_PER_S, default 20) and, past it, raises an exception nobody handles: a 500, where a
  429 was meant. The tests set a budget no test reaches; deployed, the drill's 25 requests/s
  make one request in five answer 500. Readiness passes: only the analysis of what users see
  can tell.
- LATENCY: the frontend paces its API requests (REQUEST_PACING_MS, default 800 ms, "to smooth
  bursts to the backend"); the tests set 0 to stay fast. Deployed, every request takes 0.8 s:
  the p95 is over dev's threshold (500 ms), readiness passes.

Each is the same edits every run and unique per drill (a test constant names the drill), made on
the known-good build's source (console.drill.change.push_change's `base`).
"""

from __future__ import annotations

from console.drill.change import AppsChange, Edit, Unique, new_setting

_SUPPORT = "tests/support.py"
_CONFIG = "src/probe/config.py"
_MAKE_CONFIG = "def make_config(**env: str) -> Config:\n    return load_config(env)\n"
_FREE_PORT = "\n\ndef free_port() -> int:\n"
_PROBE_ENV = '    return {**base, "PYTHONDONTWRITEBYTECODE": "1", **env}\n'


def _constant(name: str, value: str, why: str, noqa: str = "") -> Edit:
    """A test constant in tests/support.py, before free_port()."""
    return Edit(
        _SUPPORT,
        _FREE_PORT,
        f'\n# {why}\n{name} = "{value}"{noqa}\n{_FREE_PORT}',
        done=f"\n{name} = ",
    )


def _unique(name: str, prefix: str) -> Unique:
    return Unique(_SUPPORT, f'^{name} = "[^"\\n]*"', f'{name} = "{prefix}{{drill}}"')


CRASHLOOP = AppsChange(
    name="crashloop",
    subject="feat(frontend): sign session cookies with SESSION_SECRET",
    body=(
        "The frontend will keep a signed session cookie; its key comes from SESSION_SECRET, and\n"
        "a frontend without one refuses to start (a configuration error names the variable).\n"
        "The tests set a secret in tests/support.py."
    ),
    edits=(
        *new_setting(
            "SESSION_SECRET",
            "signs the session cookies; required (start-up fails without it)",
            "session_secret: str",
            'session_secret=get("SESSION_SECRET", "")',
        ),
        Edit(
            _CONFIG,
            "\n    return Config(\n",
            '\n    if kind is Kind.FRONTEND and not get("SESSION_SECRET", ""):\n'
            '        raise ConfigError("SESSION_SECRET must be set: the frontend signs its session '
            'cookies with it")\n'
            "\n    return Config(\n",
        ),
        Edit(
            _SUPPORT,
            _MAKE_CONFIG,
            "def make_config(**env: str) -> Config:\n"
            '    return load_config({"SESSION_SECRET": TEST_SESSION_SECRET, **env})\n',
        ),
        Edit(
            _SUPPORT,
            _PROBE_ENV,
            '    extra = {"PYTHONDONTWRITEBYTECODE": "1", "SESSION_SECRET": TEST_SESSION_SECRET}\n'
            "    return {**base, **extra, **env}\n",
        ),
        _constant(
            "TEST_SESSION_SECRET",
            "",
            "What the frontend signs its session cookies with in tests.",
            "  # noqa: S105 - a test value",
        ),
        Edit(
            "tests/test_config.py",
            "\n\ndef test_required_config_records_missing_names() -> None:\n",
            "\n\ndef test_a_frontend_needs_a_session_secret() -> None:\n"
            '    with pytest.raises(ConfigError, match="SESSION_SECRET"):\n'
            '        make_config(SERVICE_KIND="frontend", SESSION_SECRET="")\n'
            "\n\ndef test_required_config_records_missing_names() -> None:\n",
        ),
    ),
    unique=_unique("TEST_SESSION_SECRET", "test-secret-"),
    what_changed=(
        "the frontend refuses to start without the variable SESSION_SECRET (src/probe/config.py: "
        "a configuration error, exit 2); no Deployment sets it"
    ),
    why_ci_passed=(
        "the tests' support code sets SESSION_SECRET for every config and every process it "
        "starts (tests/support.py), so every test saw a frontend that starts; no test starts "
        "the image with the env the deploy repo's Deployment renders"
    ),
    follow_ups=(
        "Revert {source} in the apps repo, or give the Deployment SESSION_SECRET (from a "
        "Secret) before promoting it again",
        "Smoke-test the built image in CI with the env each overlay renders (it must stay up "
        "and answer /healthz), not only the unit tests",
    ),
)

_APP = "src/probe/app.py"
_CREATE_APP = (
    "def create_app(config: Config) -> ProbeApp:\n"
    "    app = ProbeApp(config)\n"
    "    _instrument(app)\n"
)
_PROBE_PATHS = '_PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # never limited\n'

ERROR_RATE = AppsChange(
    name="error-rate",
    subject="feat(frontend): protect the backend with a request budget per process",
    body=(
        "The frontend answers at most REQUESTS_PER_S requests per second (default 20) besides\n"
        "its probes; past the budget a request is refused with RequestBudgetExceeded.\n"
        "The tests set a budget of their own in tests/support.py."
    ),
    edits=(
        Edit(
            "src/probe/budget.py",
            "",
            '"""A request budget per process: at most `per_s` requests in each second."""\n'
            "\n"
            "from __future__ import annotations\n"
            "\n"
            "import time\n"
            "from collections.abc import Callable\n"
            "\n"
            "\n"
            "class RequestBudgetExceeded(RuntimeError):\n"
            '    """More requests than the budget allows in this second."""\n'
            "\n"
            "\n"
            "class RequestBudget:\n"
            "    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic)"
            " -> None:\n"
            "        self.per_s = per_s\n"
            "        self.clock = clock\n"
            "        self.second = -1\n"
            "        self.used = 0\n"
            "\n"
            "    def take(self) -> None:\n"
            '        """Count one request; raise RequestBudgetExceeded past the budget."""\n'
            "        second = int(self.clock())\n"
            "        if second != self.second:\n"
            "            self.second, self.used = second, 0\n"
            "        self.used += 1\n"
            "        if self.used > self.per_s:\n"
            '            raise RequestBudgetExceeded(f"over {self.per_s:g} requests/s")\n',
        ),
        Edit(
            _APP,
            "from probe import backend, frontend\n",
            "from probe import backend, frontend\nfrom probe.budget import RequestBudget\n",
        ),
        Edit(_APP, "\naccess_log = ", f"\n{_PROBE_PATHS}access_log = ", done=_PROBE_PATHS),
        Edit(
            _APP,
            _CREATE_APP,
            _CREATE_APP + "    budget = RequestBudget(config.requests_per_s)\n"
            "\n"
            "    @app.before_request\n"
            "    async def within_budget() -> None:\n"
            "        if request.path not in _PROBE_PATHS:\n"
            "            budget.take()\n",
        ),
        *new_setting(
            "REQUESTS_PER_S",
            "requests answered per second besides probes (default 20)",
            "requests_per_s: float",
            'requests_per_s=float(get("REQUESTS_PER_S", "20"))',
        ),
        Edit(
            _SUPPORT,
            _MAKE_CONFIG,
            "def make_config(**env: str) -> Config:\n"
            '    return load_config({"REQUESTS_PER_S": TEST_REQUESTS_PER_S, **env})\n',
        ),
        Edit(
            _SUPPORT,
            _FREE_PORT,
            "\n# The tests' request budget: no test comes near it.\n"
            'TEST_REQUESTS_PER_S = "10000"\n'
            'TEST_BUDGET_OWNER = ""  # who set it\n' + _FREE_PORT,
            done="\nTEST_REQUESTS_PER_S = ",
        ),
        Edit(
            "tests/test_budget.py",
            "",
            '"""The request budget, on its own clock."""\n'
            "\n"
            "from __future__ import annotations\n"
            "\n"
            "import pytest\n"
            "\n"
            "from probe.budget import RequestBudget, RequestBudgetExceeded\n"
            "\n"
            "\n"
            "def test_the_budget_allows_its_rate_and_refuses_past_it() -> None:\n"
            "    now = [100.0]\n"
            "    budget = RequestBudget(2, clock=lambda: now[0])\n"
            "    budget.take()\n"
            "    budget.take()\n"
            "    with pytest.raises(RequestBudgetExceeded):\n"
            "        budget.take()\n"
            "    now[0] = 101.0\n"
            "    budget.take()  # a new second, a new budget\n",
        ),
    ),
    unique=_unique("TEST_BUDGET_OWNER", "drill-"),
    what_changed=(
        "the frontend answers at most REQUESTS_PER_S (default 20) requests per second besides "
        "its probes and raises past that budget, which answers 500 (src/probe/budget.py, "
        "src/probe/app.py); its readiness still passes"
    ),
    why_ci_passed=(
        "the tests set a budget of 10000 requests/s (tests/support.py) and the budget's own test "
        "runs on a fake clock; no test sends the traffic the Service gets, and readiness does "
        "not depend on it"
    ),
    follow_ups=(
        "Revert {source} in the apps repo; answer 429 (not 500) past a budget, and size it for "
        "the traffic each environment gets",
        "Load-test the built image in CI at the traffic of the busiest environment, and keep "
        "the guard's analysis on (error ratio) for every app",
    ),
)

_PACING = (
    "\n    @app.before_request\n"
    "    async def paced() -> None:\n"
    "        if request.path not in _PROBE_PATHS and config.pacing_s:\n"
    "            await asyncio.sleep(config.pacing_s)\n"
)

LATENCY = AppsChange(
    name="latency",
    subject="feat(frontend): pace API requests to smooth bursts to the backend",
    body=(
        "Every request besides the probes waits REQUEST_PACING_MS (default 800) before it is\n"
        "handled, so bursts reach the backend spread out. The tests set 0 in tests/support.py\n"
        "to stay fast."
    ),
    edits=(
        Edit(_APP, "import logging\n", "import asyncio\nimport logging\n"),
        Edit(_APP, "\naccess_log = ", f"\n{_PROBE_PATHS}access_log = ", done=_PROBE_PATHS),
        Edit(_APP, _CREATE_APP, _CREATE_APP + _PACING),
        *new_setting(
            "REQUEST_PACING_MS",
            "wait before handling a request besides probes (default 800)",
            "pacing_s: float",
            'pacing_s=float(get("REQUEST_PACING_MS", "800")) / 1000',
        ),
        Edit(
            _SUPPORT,
            _MAKE_CONFIG,
            "def make_config(**env: str) -> Config:\n"
            '    return load_config({"REQUEST_PACING_MS": "0", **env})\n',
        ),
        _constant("TEST_PACING_OWNER", "", "Who turned the pacing off in tests."),
        Edit(
            "tests/test_frontend.py",
            "\n\nasync def test_readiness_fails_without_a_usable_backend_url(",
            "\n\nasync def test_pacing_delays_api_requests_but_not_probes("
            "client_for: ClientFactory) -> None:\n"
            "    client = await client_for(\n"
            '        SERVICE_KIND="frontend", BACKEND_URL="http://backend:8080", '
            'REQUEST_PACING_MS="50"\n'
            "    )\n"
            '    assert (await client.get("/healthz")).status_code == 200\n'
            '    assert (await client.get("/version")).status_code == 200\n'
            "\n\nasync def test_readiness_fails_without_a_usable_backend_url(",
        ),
    ),
    unique=_unique("TEST_PACING_OWNER", "drill-"),
    what_changed=(
        "the frontend waits REQUEST_PACING_MS (default 800 ms) before handling every request "
        "besides its probes (src/probe/app.py, src/probe/config.py); its readiness still passes"
    ),
    why_ci_passed=(
        "the tests turn the pacing off (tests/support.py: REQUEST_PACING_MS=0) and the one test "
        "of it checks that requests still succeed, not how long they take; readiness and "
        "liveness probes are not paced"
    ),
    follow_ups=(
        "Revert {source} in the apps repo; pace calls to the backend, not the answers to users",
        "Measure latency in CI against the built image with the defaults it ships, and keep the "
        "guard's analysis on (p95) for every app",
    ),
)

HEALTHY = AppsChange(
    name="healthy",
    subject="feat(frontend): name the build in a response header",
    body=(
        "Every answer carries X-Probe-Revision, the commit its build came from, so a client can\n"
        "tell which build answered without asking /version."
    ),
    edits=(
        Edit(
            _APP,
            "        return response\n",
            '        response.headers["X-Probe-Revision"] = app.probe_config.revision\n'
            "        return response\n",
        ),
        _constant("TEST_HEADER_OWNER", "", "Who checked the build header in tests."),
        Edit(
            "tests/test_frontend.py",
            "\n\nasync def test_readiness_fails_without_a_usable_backend_url(",
            "\n\nasync def test_every_answer_names_its_build(client_for: ClientFactory) -> None:\n"
            '    client = await client_for(SERVICE_KIND="frontend", GIT_SHA="abc1234")\n'
            '    response = await client.get("/version")\n'
            '    assert response.headers["X-Probe-Revision"] == "abc1234"\n'
            "\n\nasync def test_readiness_fails_without_a_usable_backend_url(",
        ),
    ),
    unique=_unique("TEST_HEADER_OWNER", "drill-"),
    what_changed="every answer of the frontend carries an X-Probe-Revision header "
    "(src/probe/app.py); nothing else",
    why_ci_passed="it is a good change: its test passes, and so does everything once deployed",
    follow_ups=(
        "None for {source}: it is a good release that stayed",
        "Keep the analysis thresholds where a good release passes them (no false rollback)",
    ),
)

CHANGES = {c.name: c for c in (CRASHLOOP, ERROR_RATE, LATENCY, HEALTHY)}
