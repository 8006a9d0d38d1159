"""Static checks of the ETL-StepFunction-Controller state machine definition.

The checkers (``find_problems`` and the ``check_*`` functions) work on a parsed definition (the template or
a rendered one, see ``render.py``) and return a list of human-readable problems (empty = fine): targets and
reachability, Retry/Catch on every Task, task-token callbacks, one notification per path, bounded loops,
data flow and SNS subjects. The deployer runs them before ``CreateStateMachine``.

``ways_out`` is the one reading of a state's transitions (Next, Choice rules, Default, Catch): the checks
build their graph from it, and so does the console's DOT graph of a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SNS_PUBLISH = "arn:aws:states:::sns:publish"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_CALLBACK = LAMBDA_INVOKE + ".waitForTaskToken"
# Terminal states that end an execution with nothing to alert about (a newer upload took over): paths to
# them publish nothing. Every other path publishes exactly once.
QUIET_ENDS = frozenset({"RunSuperseded"})
SNS_SUBJECT_MAX = 100
STATE_NAME_MAX = 80


# ------------------------------------------------------------------------------------------------ graph


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "next" | "choice" | "default" | "catch"


def ways_out(name: str, state: Mapping[str, Any]) -> list[Edge]:
    """Every way out of the state ``name``, in this order: Next, each Choice rule, Default, each Catch (one
    edge per rule and per catcher, in their order)."""
    edges: list[Edge] = []
    if "Next" in state:
        edges.append(Edge(name, state["Next"], "next"))
    for rule in state.get("Choices", []):
        edges.append(Edge(name, rule.get("Next"), "choice"))
    if "Default" in state:
        edges.append(Edge(name, state["Default"], "default"))
    for catcher in state.get("Catch", []):
        edges.append(Edge(name, catcher.get("Next"), "catch"))
    return edges


def transitions(definition: Mapping[str, Any]) -> list[Edge]:
    """Every transition of the top-level state machine (Next, Choice rules, Default, Catch)."""
    return [edge for name, state in definition.get("States", {}).items() for edge in ways_out(name, state)]


def is_terminal(state: Mapping[str, Any]) -> bool:
    return state.get("Type") in ("Succeed", "Fail") or state.get("End") is True


def is_sns_publish(state: Mapping[str, Any]) -> bool:
    return state.get("Type") == "Task" and state.get("Resource") == SNS_PUBLISH


def _successors(definition: Mapping[str, Any]) -> dict[str, list[Edge]]:
    out: dict[str, list[Edge]] = {name: [] for name in definition.get("States", {})}
    for edge in transitions(definition):
        out.setdefault(edge.source, []).append(edge)
    return out


def reachable(definition: Mapping[str, Any], start: str | None = None) -> set[str]:
    """States reachable from ``start`` (default: StartAt), ``start`` included."""
    succ = _successors(definition)
    start = definition.get("StartAt") if start is None else start
    seen: set[str] = set()
    stack = [start] if start in succ else []
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(edge.target for edge in succ.get(name, []) if edge.target in succ)
    return seen


def strongly_connected_components(definition: Mapping[str, Any]) -> list[set[str]]:
    """Components of the transition graph that contain a cycle (Tarjan)."""
    succ = {name: [e.target for e in edges] for name, edges in _successors(definition).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in succ.get(node, []):
            if target not in succ:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in succ.get(node, []):
                result.append(component)

    for node in succ:
        if node not in index:
            visit(node)
    return result


# --------------------------------------------------------------------------------------------- checkers


def check_structure(definition: Mapping[str, Any]) -> list[str]:
    """StartAt and every transition target exist, every state is reachable, non-terminal states go on."""
    problems: list[str] = []
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        return ["definition has no States"]
    if definition.get("StartAt") not in states:
        problems.append(f"StartAt {definition.get('StartAt')!r} is not a state")
    for edge in transitions(definition):
        if edge.target not in states:
            problems.append(f"{edge.source}: {edge.kind} target {edge.target!r} does not exist")
    for name, state in states.items():
        if len(name) > STATE_NAME_MAX:
            problems.append(f"{name}: state name longer than {STATE_NAME_MAX} characters")
        kind = state.get("Type")
        if kind == "Choice":
            if not state.get("Choices"):
                problems.append(f"{name}: Choice without Choices")
        elif kind not in ("Succeed", "Fail") and ("Next" in state) == (state.get("End") is True):
            problems.append(f"{name}: needs exactly one of Next and End")
        if kind == "Fail" and str(state.get("Error", "")).startswith("States."):
            problems.append(f"{name}: a Fail state must not report a States.* error")
    for name in sorted(set(states) - reachable(definition)):
        problems.append(f"{name}: unreachable from StartAt")
    return problems


def check_tasks(definition: Mapping[str, Any]) -> list[str]:
    """Every Task retries transient errors and catches States.ALL; Lambda tasks select from $.Payload."""
    problems: list[str] = []
    for name, state in definition.get("States", {}).items():
        if state.get("Type") != "Task":
            continue
        retries = state.get("Retry") or []
        if not retries or not all(r.get("ErrorEquals") for r in retries):
            problems.append(f"{name}: Task without Retry")
        elif any("States.ALL" in r["ErrorEquals"] for r in retries):
            problems.append(f"{name}: Retry on States.ALL also retries permanent errors")
        catchers = state.get("Catch") or []
        if not any("States.ALL" in c.get("ErrorEquals", []) for c in catchers):
            problems.append(f"{name}: Task without a States.ALL Catch")
        for catcher in catchers:
            if catcher.get("ResultPath", "$") in ("$", None):
                problems.append(f"{name}: Catch must keep the state (ResultPath like $.error)")
        selector = state.get("ResultSelector")
        if not isinstance(selector, dict) or not selector:
            problems.append(f"{name}: Task without ResultSelector (never carry the whole service response)")
        elif state.get("Resource") == LAMBDA_INVOKE:
            for key, value in selector.items():
                if not (key.endswith(".$") and isinstance(value, str) and value.startswith("$.Payload.")):
                    problems.append(f"{name}: ResultSelector {key!r} must pick a field of $.Payload")
        elif state.get("Resource") == LAMBDA_CALLBACK:
            # The result is what SendTaskSuccess sent, not the Lambda's response.
            for key, value in selector.items():
                if not (key.endswith(".$") and isinstance(value, str) and value.startswith("$.")):
                    problems.append(
                        f"{name}: ResultSelector {key!r} must pick a field of the callback output"
                    )
        if state.get("ResultPath", "$") in ("$", None):
            problems.append(f"{name}: Task result must go under its own ResultPath")
    return problems


def _mentions(node: Any, text: str) -> bool:
    if isinstance(node, dict):
        return any(_mentions(value, text) for value in node.values())
    if isinstance(node, list):
        return any(_mentions(item, text) for item in node)
    return isinstance(node, str) and text in node


def check_callbacks(definition: Mapping[str, Any]) -> list[str]:
    """A ``.waitForTaskToken`` Task passes its token on, has a timeout (else it may wait a year), never
    retries States.Timeout, and catches it first: the end of the wait is a path of its own."""
    problems = []
    for name, state in definition.get("States", {}).items():
        if state.get("Type") != "Task" or not str(state.get("Resource", "")).endswith(".waitForTaskToken"):
            continue
        if not _mentions(state.get("Parameters", {}), "$$.Task.Token"):
            problems.append(f"{name}: waits for a task token but does not pass $$.Task.Token on")
        if "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
            problems.append(f"{name}: waits for a task token without TimeoutSeconds(Path)")
        for retry in state.get("Retry") or []:
            if "States.Timeout" in retry.get("ErrorEquals", []):
                problems.append(f"{name}: retries States.Timeout (the wait would start over)")
        catchers = state.get("Catch") or []
        first = catchers[0].get("ErrorEquals", []) if catchers else []
        if first != ["States.Timeout"]:
            problems.append(f"{name}: its first Catch must be States.Timeout alone")
    return problems


def _dollar_keys(node: Any, where: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith(".$"):
                yield f"{where}.{key}"
            yield from _dollar_keys(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _dollar_keys(item, f"{where}[{i}]")


def check_pass_states(definition: Mapping[str, Any]) -> list[str]:
    """A Pass "Result" is literal: ".$" keys there are not evaluated (use "Parameters")."""
    problems = []
    for name, state in definition.get("States", {}).items():
        if state.get("Type") == "Pass" and "Result" in state:
            problems.extend(
                f"{name}: '.$' key in Result ({path}); use Parameters"
                for path in _dollar_keys(state["Result"], "Result")
            )
    return problems


def check_notifications(definition: Mapping[str, Any]) -> list[str]:
    """Every path from StartAt to a terminal state publishes to SNS exactly once, except paths to a quiet
    end (QUIET_ENDS), which publish nothing.

    Publishes are counted on SNS tasks left through Next/End. A path on which an SNS task is left through
    its Catch (the publish failed) may end without a publish, since nothing can notify any more.
    Computed over (state, publishes so far, an SNS task failed) so that loops terminate.
    """
    states = definition.get("States", {})
    succ = _successors(definition)
    problems: set[str] = set()
    start = definition.get("StartAt")
    if start not in states:
        return ["StartAt is not a state"]
    # An SNS task that cannot reach another SNS task from its Catch gives up notifying: only the last-resort
    # (failure) notifier may do that; any other one must hand over to it.
    giving_up = sorted(
        name
        for name, state in states.items()
        if is_sns_publish(state)
        and not any(
            is_sns_publish(states[other])
            for catcher in state.get("Catch", [])
            for other in reachable(definition, catcher.get("Next"))
        )
    )
    if len(giving_up) > 1:
        problems.add(f"SNS tasks whose Catch reaches no other SNS task (only one may): {giving_up}")
    seen: set[tuple[str, int, bool]] = set()
    todo = [(start, 0, False, (start,))]
    while todo:
        name, published, sns_failed, path = todo.pop()
        if (name, published, sns_failed) in seen:
            continue
        seen.add((name, published, sns_failed))
        state = states[name]
        sns = is_sns_publish(state)
        after = min(published + 1, 2) if sns else published
        if after > 1:
            problems.add(f"more than one SNS publish on path {' -> '.join(path)}")
            continue
        quiet = name in QUIET_ENDS
        if quiet and not is_terminal(state):
            problems.add(f"{name}: a quiet end must be a terminal state")
        if quiet and after > 0:
            problems.add(f"a quiet end is reached after an SNS publish on path {' -> '.join(path)}")
        if is_terminal(state) and after == 0 and not sns_failed and not quiet:
            problems.add(f"no SNS publish on path {' -> '.join(path)}")
        for edge in succ.get(name, []):
            if edge.target not in states:
                continue
            if edge.kind == "catch":
                todo.append((edge.target, published, sns_failed or sns, (*path, edge.target)))
            else:
                todo.append((edge.target, after, sns_failed, (*path, edge.target)))
    return sorted(problems)


_NUMERIC_OPS = ("NumericGreaterThanEquals", "NumericGreaterThan")
# A counting task's Lambda returns, as "count", the value at the path its input names as "counter" in the
# state it is given, plus one (pipeline/lambdas/runs.next_count, unit-tested): the count is made in the
# task's own transition, not in a Pass state of its own.
COUNT_FIELD = "$.Payload.count"


def _incremented_counters(state: Mapping[str, Any]) -> set[str]:
    """The counter a counting task increments: a Lambda task whose Payload passes the whole state
    (``"state.$": "$"``) and names ``"counter": "$.a.b"``, and whose ResultSelector stores the Lambda's count
    (``"b.$": "$.Payload.count"``) under ResultPath ``$.a``, i.e. back at the path it named."""
    if state.get("Type") != "Task" or state.get("Resource") != LAMBDA_INVOKE:
        return set()
    payload = (state.get("Parameters") or {}).get("Payload")
    selector = state.get("ResultSelector")
    base = state.get("ResultPath")
    if not isinstance(payload, dict) or not isinstance(selector, dict) or not isinstance(base, str):
        return set()
    counter = payload.get("counter")
    if payload.get("state.$") != "$" or not isinstance(counter, str):
        return set()
    stored = {f"{base}.{key[:-2]}" for key, value in selector.items() if value == COUNT_FIELD}
    return {counter} & stored


def _resets(state: Mapping[str, Any], counter: str) -> bool:
    """Whether a state writes ``counter`` (its ResultPath is the counter or above it) without counting it."""
    result_path = state.get("ResultPath", "$") if state.get("Type") in ("Task", "Pass") else None
    if not isinstance(result_path, str) or not (counter + ".").startswith(result_path + "."):
        return False
    return counter not in _incremented_counters(state)


def _numeric_guards(rule: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(Variable, operator, value) of numeric comparisons in a rule, including nested And."""
    for op in _NUMERIC_OPS:
        if op in rule:
            yield rule.get("Variable"), op, rule[op]
    for sub in rule.get("And", []):
        yield from _numeric_guards(sub)


def check_loops(definition: Mapping[str, Any]) -> list[str]:
    """Every cycle goes through a Choice that leaves it once a counter, incremented in the cycle by a counting
    task (``_incremented_counters``) and overwritten by no other state of it, reaches a numeric bound. Run on
    a rendered definition (bounds must be JSON numbers)."""
    problems: list[str] = []
    states = definition.get("States", {})
    without_choices = {
        "StartAt": definition.get("StartAt"),
        "States": {n: s for n, s in states.items() if s.get("Type") != "Choice"},
    }
    for component in strongly_connected_components(without_choices):
        problems.append(f"cycle without a Choice state: {sorted(component)}")
    for component in strongly_connected_components(definition):
        counters = set().union(*(_incremented_counters(states[n]) for n in component))
        if not counters:
            problems.append(f"loop {sorted(component)} has no counting task (a counter it increments)")
            continue
        for name in sorted(component):
            for counter in sorted(counters):
                if _resets(states[name], counter):
                    problems.append(f"loop {sorted(component)}: {name} overwrites the counter {counter}")
        bounded = False
        for name in component:
            state = states[name]
            if state.get("Type") != "Choice":
                continue
            for rule in state.get("Choices", []):
                if rule.get("Next") in component:
                    continue
                for variable, op, value in _numeric_guards(rule):
                    if variable not in counters:
                        continue
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        problems.append(f"{name}: {op} on {variable} compares with {value!r}, not a number")
                    else:
                        bounded = True
        if not bounded:
            problems.append(
                f"loop {sorted(component)} has no Choice leaving it on a numeric bound of {sorted(counters)}"
            )
    return problems


_PATH_REF_RE = re.compile(r"(?<![$\w])\$\.([A-Za-z_][A-Za-z0-9_]*)")
_STATE_PATH_FIELDS = (
    "InputPath",
    "OutputPath",
    "SecondsPath",
    "TimestampPath",
    "ItemsPath",
    "ErrorPath",
    "CausePath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
)


def _dollar_values(node: Any) -> Iterator[str]:
    """String values of ".$" keys, Choice "Variable"s and "...Path" comparisons, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key.endswith(".$") or key == "Variable" or key.endswith("Path")):
                yield value
            else:
                yield from _dollar_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dollar_values(item)


def state_reads(state: Mapping[str, Any]) -> set[str]:
    """Top-level fields of the state data that a state reads (Parameters, Choice rules, *Path fields).

    ResultSelector is left out: it reads the task result, not the state data.
    """
    texts = list(_dollar_values(state.get("Parameters", {})))
    texts += _dollar_values(state.get("Choices", []))
    texts += [state[field] for field in _STATE_PATH_FIELDS if isinstance(state.get(field), str)]
    refs: set[str] = set()
    for text in texts:
        refs.update(_PATH_REF_RE.findall(text))
    return refs


def _top_key(result_path: Any) -> str | None:
    if isinstance(result_path, str) and result_path.startswith("$."):
        return result_path[2:].split(".")[0].split("[")[0]
    return None


def _flows(state: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(target, top-level field the transition adds to the state data) for each way out of a state."""
    adds = _top_key(state.get("ResultPath")) if state.get("Type") in ("Task", "Pass") else None
    catchers = iter(state.get("Catch", []))  # ways_out gives one catch edge per catcher, in order
    for edge in ways_out("", state):
        if edge.kind == "catch":
            yield edge.target, _top_key(next(catchers).get("ResultPath"))
        else:
            yield edge.target, adds if edge.kind == "next" else None


def check_data_flow(definition: Mapping[str, Any]) -> list[str]:
    """No state reads a top-level field of the state data that is not set on every path to it.

    The execution input is not trusted to have any field (admin reruns start with {}); fields come from
    the ResultPath of earlier states (or of a Catch). Must-analysis: intersection over incoming paths.
    """
    states = definition.get("States", {})
    start = definition.get("StartAt")
    if start not in states:
        return ["StartAt is not a state"]
    for name, state in states.items():
        if state.get("Type") in ("Map", "Parallel") or state.get("OutputPath", "$") != "$":
            return [f"{name}: data-flow check does not model Map/Parallel states or OutputPath"]
        if state.get("Type") in ("Task", "Pass") and state.get("ResultPath", "$") == "$":
            return [f"{name}: data-flow check does not model ResultPath $"]
    live = reachable(definition)
    universe = frozenset(key for s in states.values() for _, key in _flows(s) if key)
    known: dict[str, frozenset[str]] = {name: universe for name in states}
    known[start] = frozenset()
    changed = True
    while changed:
        changed = False
        incoming: dict[str, frozenset[str]] = {}
        for name in live:
            for target, key in _flows(states[name]):
                if target in states:
                    out = known[name] | ({key} if key else set())
                    incoming[target] = incoming[target] & out if target in incoming else out
        for name, value in incoming.items():
            if name != start and known[name] != value:
                known[name], changed = value, True
    problems = []
    for name in sorted(live):
        missing = state_reads(states[name]) - known[name]
        if missing:
            problems.append(f"{name}: reads {sorted('$.' + m for m in missing)}, not set on every path to it")
    return problems


def _format_template(expr: str) -> str | None:
    match = re.match(r"^States\.Format\('((?:[^'\\]|\\.)*)'", expr)
    return match.group(1) if match else None


# A Subject may only interpolate bounded fields (a state's name, which export is missing), never a cause.
_SUBJECT_FORMAT_RE = re.compile(r"States\.Format\('.*?'(,\s*\$\.(failure\.failed_state|missing\.export))*\)")


# The rendered email a Notify state publishes: ResultPath of the Render…Email task (and of its plain
# stand-in), read by the SNS task as Subject.$ / Message.$.
RENDERED_EMAIL = "$.email"


def _subject_problem(name: str, params: Mapping[str, Any], field: str) -> str | None:
    """Whether the Subject in ``params[field]`` / ``params[field + ".$"]`` may exceed the limit or
    interpolate an unbounded value (None: fine)."""
    if field in params:
        subject, slack = params[field], 0
    elif f"{field}.$" in params:
        subject = _format_template(params[f"{field}.$"])
        if subject is None:
            return f"{name}: {field}.$ must be a States.Format with a literal template"
        slack = subject.count("{}") * (STATE_NAME_MAX - 2)
        if not _SUBJECT_FORMAT_RE.fullmatch(params[f"{field}.$"]):
            return f"{name}: {field}.$ may only interpolate $.failure.failed_state, $.missing.export"
    else:
        return f"{name}: SNS publish without {field}"
    if not isinstance(subject, str) or not subject.isascii() or len(subject) + slack > SNS_SUBJECT_MAX:
        return f"{name}: {field} may exceed {SNS_SUBJECT_MAX} ASCII characters"
    return None


def check_sns_subjects(definition: Mapping[str, Any]) -> list[str]:
    """SNS Subjects are ASCII and at most 100 characters, even with the longest interpolated state name.

    A Subject may also be the rendered email's (``$.email.subject``): then every state that writes
    ``$.email`` is either a Lambda task (the renderer, pipeline/lambdas/emails.py, bounds its subjects and
    its unit tests hold it to that) or a Pass state whose ``subject`` obeys the rules above.
    """
    problems = []
    states = definition.get("States", {})
    rendered = False
    for name, state in states.items():
        if not is_sns_publish(state):
            continue
        params = state.get("Parameters", {})
        if params.get("Subject.$") == f"{RENDERED_EMAIL}.subject":
            rendered = True
            continue
        problem = _subject_problem(name, params, "Subject")
        if problem:
            problems.append(problem)
    if rendered:
        for name, state in states.items():
            if state.get("ResultPath") != RENDERED_EMAIL:
                continue
            if state.get("Type") == "Task" and state.get("Resource") == LAMBDA_INVOKE:
                continue
            if state.get("Type") != "Pass" or not isinstance(state.get("Parameters"), dict):
                problems.append(f"{name}: writes {RENDERED_EMAIL} but is neither the renderer nor a Pass")
                continue
            problem = _subject_problem(name, state["Parameters"], "subject")
            if problem:
                problems.append(problem)
    return problems


CHECKERS = (
    check_structure,
    check_tasks,
    check_callbacks,
    check_pass_states,
    check_notifications,
    check_loops,
    check_data_flow,
    check_sns_subjects,
)


def find_problems(definition: Mapping[str, Any], checkers: Iterable[Any] = CHECKERS) -> list[str]:
    """All problems of a rendered definition (empty list = fine)."""
    return [problem for checker in checkers for problem in checker(definition)]
