"""Just enough of a Dockerfile reader to know how an image starts: the final stage's ENTRYPOINT,
CMD, ENV (with ARG substitution), STOPSIGNAL and WORKDIR.

It follows the Dockerfile reference where the embedded image store needs it: parser directives
(`# escape=`), line continuations, comments, heredocs (skipped), global and per-stage `ARG`,
`ENV key=value ...` and the legacy `ENV key value`, `$VAR` / `${VAR}` / `${VAR:-word}` /
`${VAR:+word}` (and `-`, `+`, `:?`, `?`) expansion with Docker's quoting rules, exec and shell
form (with `SHELL`), and stages built `FROM` an earlier stage, which inherit its config. RUN,
COPY and the rest are not executed: the image store builds the environment with uv instead.
An external base image contributes nothing but Docker's default PATH.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_VENV = "/app/.venv"
_VENV_KEYS = ("UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV")

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DockerfileError(ValueError):
    """The Dockerfile cannot be read; the message names the line."""


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, ENV, ...
    text: str  # the arguments, continuation lines joined
    line: int  # 1-based line where it starts


@dataclass(frozen=True)
class StageConfig:
    """What the final stage says about how its image runs (container paths, unmapped)."""

    name: str | None
    base: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    stop_signal: str = "SIGTERM"
    user: str = ""
    # Where the image keeps its Python environment: UV_PROJECT_ENVIRONMENT or VIRTUAL_ENV as set
    # by the final stage, else by an earlier (builder) stage, else uv's Docker convention.
    venv: str = DEFAULT_VENV


def _directives(lines: list[str]) -> tuple[str, int]:
    """The escape character and the index of the first line after the parser directives, which
    may only open the file (before any comment, blank line or instruction)."""
    escape = "\\"
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            break
        if match.group(1).lower() == "escape":
            if match.group(2) not in ("\\", "`"):
                raise DockerfileError(f"line {i + 1}: escape must be \\ or `")
            escape = match.group(2)
        i += 1
    return escape, i


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments and heredoc bodies
    dropped."""
    lines = text.splitlines()
    escape, i = _directives(lines)
    out: list[Instruction] = []
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts: list[str] = []
        line = lines[i].rstrip()
        while True:
            if line.endswith(escape) and not line.endswith(escape * 2):
                parts.append(line[: -len(escape)])
                i += 1
                # Comment and empty lines inside a continuation are dropped.
                while i < len(lines) and (
                    not lines[i].strip() or lines[i].lstrip().startswith("#")
                ):
                    i += 1
                if i >= len(lines):
                    break
                line = lines[i].rstrip()
                continue
            parts.append(line)
            i += 1
            break
        joined = " ".join(p.strip() for p in parts if p.strip())
        keyword, _, rest = joined.partition(" ")
        keyword = keyword.upper()
        # Heredocs (`RUN <<EOF`): their bodies are data, never instructions.
        if keyword in ("RUN", "COPY", "ADD"):
            for match in _HEREDOC.finditer(rest):
                strip_tabs, terminator = match.group(1) == "-", match.group(3)
                while i < len(lines):
                    body = lines[i].lstrip("\t") if strip_tabs else lines[i]
                    i += 1
                    if body == terminator:
                        break
        out.append(Instruction(keyword, rest.strip(), start + 1))
    return out


def _words(text: str, escape: str, line: int) -> list[tuple[str, list[tuple[str, bool]]]]:
    """Split on unquoted whitespace; each word is its raw text and its pieces as
    (text, expandable) after quote removal."""
    words: list[tuple[str, list[tuple[str, bool]]]] = []
    raw: list[str] = []
    pieces: list[tuple[str, bool]] = []
    i = 0

    def flush() -> None:
        if raw:
            words.append(("".join(raw), pieces.copy()))
            raw.clear()
            pieces.clear()

    while i < len(text):
        ch = text[i]
        if ch.isspace():
            flush()
            i += 1
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise DockerfileError(f"line {line}: unmatched ' in {text!r}")
            raw.append(text[i : end + 1])
            pieces.append((text[i + 1 : end], False))
            i = end + 1
        elif ch == '"':
            j = i + 1
            buf: list[str] = []
            while j < len(text) and text[j] != '"':
                if text[j] == escape and j + 1 < len(text) and text[j + 1] in ('"', escape, "$"):
                    # An escaped `$` stays escaped for expansion to see; quotes/escapes are literal.
                    buf.append(text[j : j + 2] if text[j + 1] == "$" else text[j + 1])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= len(text):
                raise DockerfileError(f'line {line}: unmatched " in {text!r}')
            raw.append(text[i : j + 1])
            pieces.append(("".join(buf), True))
            i = j + 1
        elif ch == escape and i + 1 < len(text):
            raw.append(text[i : i + 2])
            nxt = text[i + 1]
            pieces.append((escape + "$" if nxt == "$" else nxt, nxt == "$"))
            i += 2
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "'\"" + escape:
                j += 1
            raw.append(text[i:j])
            pieces.append((text[i:j], True))
            i = j
    flush()
    return words


def expand(text: str, variables: Mapping[str, str], escape: str = "\\", line: int = 0) -> str:
    """`$VAR`, `${VAR}` and `${VAR<op>word}` expanded from `variables`; unset expands empty."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and text[i + 1 : i + 2] == "$":
            out.append("$")
            i += 2
        elif ch == "$" and text[i + 1 : i + 2] == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise DockerfileError(f"line {line}: unterminated ${{ in {text!r}")
            out.append(_substitute(text[i + 2 : end], variables, escape, line))
            i = end + 1
        elif ch == "$" and (match := _NAME.match(text, i + 1)):
            out.append(variables.get(match.group(0), ""))
            i = match.end()
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _substitute(body: str, variables: Mapping[str, str], escape: str, line: int) -> str:
    match = _NAME.match(body)
    if not match:
        raise DockerfileError(f"line {line}: bad substitution ${{{body}}}")
    name, rest = match.group(0), body[match.end() :]
    value = variables.get(name)
    if not rest:
        return value or ""
    colon = rest.startswith(":")
    op, word = (rest[1:2], rest[2:]) if colon else (rest[:1], rest[1:])
    is_set = value is not None and (value != "" or not colon)
    if op == "-":
        return value if is_set and value is not None else expand(word, variables, escape, line)
    if op == "+":
        return expand(word, variables, escape, line) if is_set else ""
    if op == "?":
        if is_set and value is not None:
            return value
        message = expand(word, variables, escape, line) or "is not set"
        raise DockerfileError(f"line {line}: {name}: {message}")
    raise DockerfileError(f"line {line}: unsupported substitution ${{{body}}}")


def _word_value(pieces: list[tuple[str, bool]], variables: Mapping[str, str], esc: str) -> str:
    return "".join(expand(t, variables, esc) if expandable else t for t, expandable in pieces)


def _exec_or_shell(text: str, shell: tuple[str, ...]) -> list[str]:
    """Exec form (a JSON array of strings) as is; anything else is shell form."""
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    return [*shell, text] if text else []


@dataclass
class _Stage:
    name: str | None
    base: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_PATH})
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    stop_signal: str = "SIGTERM"
    user: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL
    cmd_inherited: bool = True

    def child(self, name: str | None, base: str) -> _Stage:
        """A stage built `FROM` this one: it inherits the config, not the ARGs."""
        return _Stage(
            name,
            base,
            list(self.entrypoint),
            list(self.cmd),
            dict(self.env),
            {},
            self.workdir,
            self.stop_signal,
            self.user,
            self.shell,
        )

    @property
    def scope(self) -> dict[str, str]:
        return {**self.args, **self.env}  # ENV wins over an ARG of the same name


class _Reader:
    """Applies instructions in order, keeping what each stage would set in its image config."""

    def __init__(self, escape: str, build_args: Mapping[str, str]) -> None:
        self.escape = escape
        self.build_args = dict(build_args)
        self.global_args: dict[str, str] = {}
        self.stages: list[_Stage] = []
        self.by_name: dict[str, _Stage] = {}
        self.venv_hint = DEFAULT_VENV

    def apply(self, ins: Instruction) -> None:
        if ins.keyword == "FROM":
            self._from(ins)
        elif not self.stages:
            if ins.keyword != "ARG":
                raise DockerfileError(f"line {ins.line}: {ins.keyword} before the first FROM")
            self._arg(ins, self.global_args, self.global_args, {})
        else:
            handler = {
                "ARG": self._stage_arg,
                "ENV": self._env,
                "ENTRYPOINT": self._entrypoint,
                "CMD": self._cmd,
                "SHELL": self._shell,
                "WORKDIR": self._workdir,
                "STOPSIGNAL": self._stopsignal,
                "USER": self._user,
            }.get(ins.keyword)
            if handler is not None:  # RUN, COPY, LABEL, ... do not change how the image starts
                handler(ins, self.stages[-1])

    def _from(self, ins: Instruction) -> None:
        words = [
            _word_value(p, self.global_args, self.escape)
            for _, p in _words(ins.text, self.escape, ins.line)
        ]
        words = [w for w in words if not w.startswith("--")]  # --platform=...
        if not words:
            raise DockerfileError(f"line {ins.line}: FROM needs an image")
        base = words[0]
        alias = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
        parent = self.by_name.get(base.lower())
        stage = parent.child(alias, base) if parent is not None else _Stage(alias, base)
        self.stages.append(stage)
        if alias:
            self.by_name[alias] = stage

    def _arg(
        self,
        ins: Instruction,
        target: dict[str, str],
        scope: Mapping[str, str],
        inherited: Mapping[str, str],
    ) -> None:
        for raw, pieces in _words(ins.text, self.escape, ins.line):
            name, eq, _ = raw.partition("=")
            if name in self.build_args:
                target[name] = self.build_args[name]
            elif eq:
                target[name] = _word_value(pieces, scope, self.escape).partition("=")[2]
            elif name in inherited:
                target[name] = inherited[name]

    def _stage_arg(self, ins: Instruction, st: _Stage) -> None:
        for single in _words(ins.text, self.escape, ins.line):
            one = Instruction(ins.keyword, single[0], ins.line)
            self._arg(one, st.args, st.scope, self.global_args)

    def _env(self, ins: Instruction, st: _Stage) -> None:
        st.env.update(_env_pairs(ins.text, st.scope, self.escape, ins.line))
        self.venv_hint = next((st.env[k] for k in _VENV_KEYS if st.env.get(k)), self.venv_hint)

    def _entrypoint(self, ins: Instruction, st: _Stage) -> None:
        st.entrypoint = _exec_or_shell(ins.text, st.shell)
        if st.cmd_inherited:
            st.cmd = []  # an ENTRYPOINT resets the CMD inherited from the base

    def _cmd(self, ins: Instruction, st: _Stage) -> None:
        st.cmd = _exec_or_shell(ins.text, st.shell)
        st.cmd_inherited = False

    def _shell(self, ins: Instruction, st: _Stage) -> None:
        shell = _exec_or_shell(ins.text, ())
        if not shell or not ins.text.startswith("["):
            raise DockerfileError(f"line {ins.line}: SHELL must be in exec (JSON) form")
        st.shell = tuple(shell)

    def _workdir(self, ins: Instruction, st: _Stage) -> None:
        path = _word_value(
            [p for _, ps in _words(ins.text, self.escape, ins.line) for p in ps],
            st.scope,
            self.escape,
        )
        st.workdir = path if path.startswith("/") else st.workdir.rstrip("/") + "/" + path

    def _stopsignal(self, ins: Instruction, st: _Stage) -> None:
        st.stop_signal = expand(ins.text.strip(), st.scope, self.escape, ins.line)

    def _user(self, ins: Instruction, st: _Stage) -> None:
        st.user = expand(ins.text.strip(), st.scope, self.escape, ins.line)


def final_stage(text: str, build_args: Mapping[str, str] | None = None) -> StageConfig:
    """The config of the last stage of the Dockerfile `text` built with `build_args`."""
    escape, _ = _directives(text.splitlines())
    reader = _Reader(escape, build_args or {})
    for ins in instructions(text):
        reader.apply(ins)
    if not reader.stages:
        raise DockerfileError("no FROM instruction")
    last = reader.stages[-1]
    # The stage keeps every field of the image's config under the same name, and more.
    config = {f.name: getattr(last, f.name) for f in fields(StageConfig) if f.name != "venv"}
    venv = next((last.env[k] for k in _VENV_KEYS if last.env.get(k)), reader.venv_hint)
    return StageConfig(**config, venv=venv)


def _env_pairs(body: str, scope: Mapping[str, str], escape: str, line: int) -> dict[str, str]:
    """`ENV a=1 b="two words"` or the legacy `ENV a one value`; every value expands against the
    variables as they were before this instruction (Docker's rule)."""
    words = _words(body, escape, line)
    if not words:
        raise DockerfileError(f"line {line}: ENV needs a value")
    first_raw = words[0][0]
    if "=" not in first_raw:
        # Legacy form: the rest of the line is the value.
        name = first_raw
        rest = body[len(first_raw) :].strip()
        if not rest:
            raise DockerfileError(f"line {line}: ENV {name} needs a value (ENV key=value)")
        value_words = _words(rest, escape, line)
        value = " ".join(_word_value(p, scope, escape) for _, p in value_words)
        return {name: value}
    pairs: dict[str, str] = {}
    for raw, pieces in words:
        name, eq, _ = raw.partition("=")
        if not eq or not _NAME.fullmatch(name):
            raise DockerfileError(f"line {line}: ENV expects key=value, got {raw!r}")
        pairs[name] = _word_value(pieces, scope, escape).partition("=")[2]
    return pairs
