"""The node's configuration file (`trustnode run --config FILE`): one strict JSON object.

Unknown fields are errors, and every error is one `ConfigError` line naming the file and the
field. Relative paths are resolved against the directory of the config file. The account key is
never in the file: it is read from a key file that only its owner may read (mode 0600), or from
an environment variable, and it never appears in a message.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from auditors.adversaries import (
    DEFAULT_BLOC_FRACTION,
    DEFAULT_COPYCAT_FALLBACK,
    Behaviour,
    CopycatFallback,
)
from node.files import read_bounded
from node.hosts import is_loopback_host
from node.oracle_labels import read_oracle_labels
from node.tracefile import describe_validation_error

__all__ = [
    "DEFAULT_RPC_HOST",
    "AccountConfig",
    "AuditSettings",
    "ChainConfig",
    "ConfigError",
    "NodeConfig",
    "OracleSettings",
    "P2PSettings",
    "RpcSettings",
    "load_account_key",
    "load_config",
]

DEFAULT_RPC_HOST = "127.0.0.1"
#: The largest config file read: a config is a few hundred bytes.
MAX_CONFIG_BYTES = 65_536

_MULTIADDR = re.compile(r"^/(ip4|ip6|dns|dns4|dns6)/[^/]+/tcp/\d{1,5}/p2p/[1-9A-HJ-NP-Za-km-z]+$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_ACCOUNT_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Validation context key: the config file's directory, which relative paths are taken from.
_CONFIG_DIR = "config_dir"

Port = Annotated[int, Field(ge=0, le=65_535)]
Multiaddr = Annotated[str, Field(pattern=_MULTIADDR.pattern)]
Address = Annotated[str, Field(pattern=_ADDRESS.pattern)]


class ConfigError(Exception):
    """The configuration is unusable; the message is one line naming the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class RpcSettings(_Strict):
    host: str = DEFAULT_RPC_HOST
    #: 0 picks a free port; the chosen URL is written to `<data_dir>/node.json`.
    port: Port = 0
    #: Bearer token for write methods; required when `host` is not a loopback address.
    token: SecretStr | None = Field(default=None, min_length=16)

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> RpcSettings:
        if self.token is None and not is_loopback_host(self.host):
            raise ValueError(f"listening on {self.host} beyond loopback needs rpc.token")
        return self


class P2PSettings(_Strict):
    #: libp2p TCP port on 127.0.0.1; 0 picks a free one.
    listen_port: Port = 0
    #: Full multiaddrs with a peer id: /ip4/127.0.0.1/tcp/PORT/p2p/PEER_ID.
    bootstrap: tuple[Multiaddr, ...] = ()


class AccountConfig(_Strict):
    """Exactly one source of the account key."""

    key_file: Path | None = None
    key_env: str | None = Field(default=None, pattern=_ENV_NAME.pattern)

    @model_validator(mode="after")
    def _one_source(self) -> AccountConfig:
        if (self.key_file is None) == (self.key_env is None):
            raise ValueError("give exactly one of 'key_file' or 'key_env'")
        return self


class ChainConfig(_Strict):
    rpc_url: str = Field(pattern=r"^https?://\S+$")
    ledger: Address
    #: Needed only by the pipeline services that register and read auditors.
    registry: Address | None = None


class LlmJudgeSettings(_Strict):
    """The node's LLM evaluator (tier 2)."""

    #: `local`: the embedded backend (SmolLM2-135M on loopback, extra `local-llm`): it exercises
    #: the path and is not a trustworthy judge. Else the API root of any OpenAI-compatible
    #: endpoint, e.g. `http://127.0.0.1:8080/v1` (vLLM, llama.cpp server, Ollama, hosted).
    endpoint: str = Field(default="local", pattern=r"^(local|https?://\S+)$")
    model: str = Field(default="default", min_length=1, max_length=200)
    #: The environment variable holding the API key: keys stay out of config files.
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_concurrency: int = Field(default=4, ge=1, le=256)
    read_timeout_s: float = Field(default=120.0, gt=0, le=3_600)


class OracleSettings(_Strict):
    """`oracle:P` auditors (`auditors.oracle`): every segment answered from its record's label,
    right with probability `accuracy`.

    A LABELLED SIMULATION FOR EXPERIMENTS (`trustnode eval --auditors oracle:P`), NEVER A
    DEPLOYMENT JUDGE: it reads the answers from a file, so it measures the protocol (committees,
    tally, escalation, adversaries) apart from judge quality, and judges nothing itself. The
    labels file is read and checked when the configuration is validated.
    """

    #: JSON {trace id: label} (`node.oracle_labels.write_oracle_labels`); a relative path is
    #: taken from the config file's directory.
    labels_file: Path
    #: P in (0, 1]: the probability that each answer is the truth; also the vote's confidence.
    accuracy: float = Field(gt=0, le=1)
    #: With the auditor's address, trace id and segment index, decides which answers are wrong.
    seed: int = Field(default=0, ge=0, lt=2**256)
    _labels: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("labels_file", mode="after")
    @classmethod
    def _from_config_dir(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get(_CONFIG_DIR)
        return value if base is None or value.is_absolute() else Path(base) / value

    @model_validator(mode="after")
    def _read_labels(self) -> OracleSettings:
        self._labels = read_oracle_labels(self.labels_file)  # its errors are ValueErrors
        return self

    @property
    def labels(self) -> Mapping[str, int]:
        """The labels read from `labels_file` at validation, by lowercase trace id."""
        return self._labels


class AuditSettings(_Strict):
    """How this node audits and coordinates; the defaults suit a devnet."""

    #: For experiments and tests of the defences (see `auditors.adversaries`): `flip` votes
    #: against its honest judgement, `random` at random (seeded by `seed`), `always-valid`
    #: VALID on everything, `abstain` ABSTAIN on everything (it reveals, so it is never absent),
    #: `copycat` copies the reveals it has seen (commit-reveal leaves it none at commit time),
    #: `collude` attacks the segments its bloc's shared secret draws, `absent` never votes (it
    #: still relays and coordinates).
    behaviour: Behaviour = "honest"
    seed: int = 0
    #: The colluding bloc's shared secret (hex) and the fraction of segments it attacks.
    bloc_secret: str | None = Field(default=None, pattern=r"^0x([0-9a-fA-F]{2}){16,64}$")
    bloc_fraction: float = Field(default=DEFAULT_BLOC_FRACTION, ge=0, le=1)
    copycat_fallback: CopycatFallback = DEFAULT_COPYCAT_FALLBACK
    #: Fee paid with each submitted trace; absent: the Ledger's minimum fee.
    fee_wei: int | None = Field(default=None, ge=0)
    segment_wait_s: float = Field(default=2.0, gt=0, le=3_600)
    commit_window_s: float = Field(default=10.0, gt=0, le=3_600)
    reveal_window_s: float = Field(default=10.0, gt=0, le=3_600)
    stall_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    #: Absent: the node judges with its tier-1 checkers only.
    llm: LlmJudgeSettings | None = None
    #: The tier-1 checkers judge first on every segment the node is drawn for. Off: an auditor
    #: of the LLM (or human) tier judges with its LLM alone (the tier-mix ablation's LLM-only
    #: auditors); the node then needs `llm` or `human_review`, or it would only abstain.
    checkers: bool = True
    #: Segments of the human tier wait in this node's review queue (`trustnode review`) for up
    #: to `review_deadline_s`, then abstain. The commit window must outlast the deadline, or the
    #: human's vote would arrive after the round's commit phase closed.
    human_review: bool = False
    review_deadline_s: float = Field(default=600.0, gt=0, le=86_400)
    #: Experiments only, never a deployment: `oracle:P` auditors answer every tier from the
    #: records' labels, replacing the checkers, the LLM and the human queue (so `llm` and
    #: `human_review` must be off); `behaviour` still applies on top of it.
    oracle: OracleSettings | None = None
    #: Canaries (synthetic traces with known answers, `protocol.canaries`) submitted per user
    #: trace this node accepts, in expectation; 0 turns them off.
    canary_rate: float = Field(default=0.0, ge=0, le=1)
    #: How long this node's first vote of a burst waits for the others to share its message,
    #: per trace whose round is collecting votes, and at most (`node.pipeline.publisher`).
    vote_linger_s: float = Field(default=0.05, ge=0, le=1)
    vote_linger_max_s: float = Field(default=1.0, ge=0, le=10)
    #: Baseline switches for benchmarks: one message per sealed segment and per vote,
    #: phases that last their whole windows, and every accepted trace driven at once instead of
    #: as many as the rounds' pace admits (`node.pipeline.admission`). Never what a deployment
    #: wants.
    batching: bool = True
    fixed_phases: bool = False
    adaptive_admission: bool = True

    @model_validator(mode="after")
    def _check_review_deadline(self) -> AuditSettings:
        if self.human_review and self.review_deadline_s >= self.commit_window_s:
            raise ValueError(
                f"review_deadline_s ({self.review_deadline_s:g}) must be shorter than "
                f"commit_window_s ({self.commit_window_s:g}) when human_review is on"
            )
        return self

    @model_validator(mode="after")
    def _check_some_judge(self) -> AuditSettings:
        judges = self.checkers or self.llm is not None or self.human_review
        if not judges and self.oracle is None:
            raise ValueError("with checkers off the node needs llm or human_review to judge")
        return self

    @model_validator(mode="after")
    def _check_oracle_alone(self) -> AuditSettings:
        if self.oracle is not None and (self.llm is not None or self.human_review):
            raise ValueError("oracle replaces every judge: turn llm and human_review off")
        return self


class NodeConfig(_Strict):
    data_dir: Path
    account: AccountConfig
    rpc: RpcSettings = Field(default_factory=RpcSettings)
    p2p: P2PSettings = Field(default_factory=P2PSettings)
    #: Absent: the node serves RPC without a chain and audit_getVerdict is chain-unavailable.
    chain: ChainConfig | None = None
    #: Used when `chain` names a registry: then the node runs the audit pipeline.
    audit: AuditSettings = Field(default_factory=AuditSettings)


def load_config(path: Path) -> NodeConfig:
    """Read and validate `path`; relative paths in it are taken from the file's directory."""
    raw = read_bounded(path, MAX_CONFIG_BYTES, "config file", ConfigError)
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON document ({exc})") from None
    try:
        config = NodeConfig.model_validate_json(raw, context={_CONFIG_DIR: path.parent})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: NodeConfig, base: Path) -> NodeConfig:
    key_file = config.account.key_file
    account = config.account
    if key_file is not None:
        account = account.model_copy(update={"key_file": base / key_file})
    return config.model_copy(update={"data_dir": base / config.data_dir, "account": account})


def load_account_key(account: AccountConfig) -> str:
    """The 0x-prefixed account key from its file or environment variable.

    A key file readable or writable by group or others is refused, like ssh does.
    """
    if account.key_file is not None:
        where = f"account.key_file {account.key_file}"
        try:
            mode = account.key_file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"{where}: permissions {stat.S_IMODE(mode):04o} are too open; use 0600"
                )
            text = account.key_file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read ({type(exc).__name__})") from None
    else:
        where = f"account.key_env {account.key_env}"
        text = os.environ.get(str(account.key_env), "").strip()
        if not text:
            raise ConfigError(f"{where}: the environment variable is not set")
    if not _ACCOUNT_KEY.match(text):
        raise ConfigError(f"{where}: not a 32-byte hex private key")
    return "0x" + text.removeprefix("0x").lower()
