"""The chain client: the one module that talks to an EVM JSON-RPC endpoint (through web3).

Every transaction is signed locally. One `NonceAllocator` per (account, chain) hands out nonces
so concurrent senders never collide; it resynchronizes from the chain after a send error.
Transient RPC failures are retried with exponential backoff; reverts are never retried and come
back as `TransactionRevertedError` carrying the contract's custom error name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from eth_abi.exceptions import EncodingError
from eth_account import Account
from eth_typing import HexStr
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    TimeExhausted,
    Web3RPCError,
)
from web3.types import RPCEndpoint, TxParams

from node.chain.calls import CallCodec, CallOutputError
from node.chain.errors import (
    ChainError,
    ChainTimeoutError,
    ChainUnavailableError,
    TransactionRevertedError,
)
from node.chain.events import EventCodec, LogDecodeError
from node.chain.revert import ErrorDecoder

DEFAULT_REQUEST_TIMEOUT_S = 10.0
DEFAULT_RECEIPT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 0.1
#: Pooled connections to the chain's RPC endpoint (kept alive between calls).
KEEP_ALIVE_CONNECTIONS = 8
#: Head-room over the estimate: state can move between estimation and inclusion.
GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5
RECEIPT_POLL_S = 0.02

_TRANSIENT = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
    ProviderConnectionError,
)
#: JSON-RPC error code of an execution that reverted (EIP-1474).
_REVERT_CODE = 3
_NONCE_TROUBLE = ("nonce too low", "nonce too high", "already known", "replacement transaction")

T = TypeVar("T")


def _no_contract(function: Any) -> ChainError:
    """A call whose answer is not the function's encoding: no (such) contract at the address."""
    return ChainError(f"no contract answering {function.fn_name} at {function.address}")


def _describe(exc: BaseException) -> str:
    """A short cause for an unreachable endpoint: the innermost OS error when there is one."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def checksum(address: str) -> str:
    """web3 wants EIP-55 checksummed addresses; the protocol keeps them lowercase."""
    return str(AsyncWeb3.to_checksum_address(address))


@dataclass(frozen=True)
class Sender:
    """A local signing key and its address (lowercase)."""

    address: str
    private_key: str

    @classmethod
    def from_key(cls, private_key: str) -> Sender:
        return cls(str(Account.from_key(private_key).address).lower(), private_key)


@dataclass(frozen=True)
class Receipt:
    """What callers need of a mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    contract_address: str | None
    logs: tuple[Mapping[str, Any], ...]


class NonceAllocator:
    """Hands out consecutive nonces for one account on one chain; safe across coroutines."""

    def __init__(self, fetch_pending_count: Callable[[], Awaitable[int]]) -> None:
        self._fetch = fetch_pending_count
        self._next: int | None = None
        self._lock = asyncio.Lock()

    async def allocate(self) -> int:
        async with self._lock:
            if self._next is None:
                self._next = await self._fetch()
            nonce, self._next = self._next, self._next + 1
            return nonce

    async def resync(self) -> None:
        """Forget the local counter: the next allocation asks the chain again."""
        async with self._lock:
            self._next = None


class ChainClient:
    """Async access to one chain: calls, signed transactions, deployments, logs."""

    def __init__(
        self,
        rpc_url: str,
        abis: Iterable[Sequence[Mapping[str, Any]]] = (),
        *,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        receipt_timeout_s: float = DEFAULT_RECEIPT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        provider = AsyncHTTPProvider(
            rpc_url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=request_timeout_s)},
            exception_retry_configuration=None,  # retries are ours, with our backoff
            # web3's validation middleware asks for the chain id before every call and
            # transaction: a second round trip each time unless that one answer is cached.
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
        self.w3 = AsyncWeb3(provider)
        self.rpc_url = rpc_url
        self._decoder = ErrorDecoder(abis)
        self._receipt_timeout_s = receipt_timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._nonces: dict[tuple[str, int], NonceAllocator] = {}
        self._chain_id: int | None = None
        self._request_timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._request_id = 0

    async def close(self) -> None:
        await self.w3.provider.disconnect()
        if self._session is not None:
            await self._session.close()
        # aiohttp closes pooled connections on a later loop iteration; give it that iteration,
        # so a loop ending right after (asyncio.run) does not leak their sockets.
        await asyncio.sleep(0)

    async def _keep_alive(self) -> None:
        """Hand web3 a keep-alive session: its default connector closes the TCP connection
        after every request, a connect and a close per call (a few per cent of a busy node's
        CPU). Bound to the loop of the first call, as web3's own session cache is."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=KEEP_ALIVE_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=self._request_timeout_s),
            )
            provider: Any = self.w3.provider
            await provider.cache_async_session(self._session)

    async def _with_retries(self, operation: Callable[[], Awaitable[T]]) -> T:
        await self._keep_alive()
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            try:
                return await operation()
            except _TRANSIENT as exc:
                if attempt == self._retries:
                    raise ChainUnavailableError(
                        f"cannot reach the chain at {self.rpc_url} "
                        f"after {self._retries + 1} attempts ({_describe(exc)})"
                    ) from exc
                await asyncio.sleep(delay)  # backoff between retries of a failed request
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = await self._with_retries(lambda: self.w3.eth.chain_id)
        return self._chain_id

    async def block_number(self) -> int:
        """The latest block's number (asked directly: the chain watcher polls it twice a
        second, and web3's request stack cost twice the CPU of the request itself)."""
        answer = await self._with_retries(lambda: self._request("eth_blockNumber", []))
        try:
            return int(str(answer), 16)
        except ValueError:
            raise ChainError(f"eth_blockNumber: not a quantity: {answer!r}") from None

    async def balance(self, address: str) -> int:
        checksum = AsyncWeb3.to_checksum_address(address)
        return await self._with_retries(lambda: self.w3.eth.get_balance(checksum))

    def contract(self, address: str, abi: Sequence[Mapping[str, Any]]) -> AsyncContract:
        """A contract handle; its custom errors become decodable in every later revert."""
        self._decoder.add(abi)
        return self.w3.eth.contract(address=AsyncWeb3.to_checksum_address(address), abi=abi)

    def _revert(self, exc: Exception, tx_hash: str | None = None) -> TransactionRevertedError:
        return self._revert_of(
            getattr(exc, "data", None), getattr(exc, "message", None) or exc, tx_hash
        )

    def _revert_of(
        self, data: object, message: object, tx_hash: str | None = None
    ) -> TransactionRevertedError:
        """The revert named by its data (a custom error, `Error(string)` or a panic) when the
        node returned any, else by the node's message."""
        if isinstance(data, str) and data.startswith("0x"):
            name, args = self._decoder.decode(bytes.fromhex(data[2:]))
            return TransactionRevertedError(name, args, tx_hash)
        return TransactionRevertedError(str(message), (), tx_hash)

    async def call(self, function: Any, block: int | str = "latest") -> Any:
        """Run a view or pure function, given as a web3 `ContractFunction` (its ABI, address
        and arguments); reverts raise TransactionRevertedError.

        The request is encoded and its answer decoded here (`node.chain.calls`), not by web3's
        request stack, which cost 7x the CPU per call; the answer has web3's shape. Arguments
        eth_abi does not take as given (web3 also converts hex strings to bytes, for one) go
        through web3's own call.
        """
        if function.kwargs:
            return await self._web3_call(function, block)
        codec = CallCodec.of(function.abi)
        try:
            data = codec.encode(function.args)
        except (EncodingError, TypeError, ValueError):
            return await self._web3_call(function, block)
        request = {"to": function.address, "data": data}
        block_id = block if isinstance(block, str) else hex(block)
        answer = await self._with_retries(lambda: self._request("eth_call", [request, block_id]))
        try:
            return codec.decode(bytes.fromhex(str(answer).removeprefix("0x")))
        except (CallOutputError, ValueError):
            raise _no_contract(function) from None

    async def _web3_call(self, function: Any, block: int | str) -> Any:
        try:
            return await self._with_retries(lambda: function.call(block_identifier=block))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self._revert(exc) from None
        except BadFunctionCallOutput:
            raise _no_contract(function) from None

    async def _request(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request on the keep-alive session (`_with_retries` opens it). An error
        answer raises: a revert (JSON-RPC code 3, or a message saying so) as
        TransactionRevertedError, any other as ChainError."""
        assert self._session is not None
        self._request_id += 1
        payload = {"jsonrpc": "2.0", "id": self._request_id, "method": method, "params": params}
        async with self._session.post(self.rpc_url, json=payload) as response:
            response.raise_for_status()
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ChainError(f"{method}: malformed answer from {self.rpc_url}")
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            if error.get("code") == _REVERT_CODE or "revert" in message.lower():
                raise self._revert_of(error.get("data"), message)
            raise ChainError(f"{method} failed: {message}")
        if error is not None or "result" not in body:
            raise ChainError(f"{method}: malformed answer from {self.rpc_url}")
        return body["result"]

    async def get_logs(
        self,
        event: Any,
        from_block: int,
        to_block: int | str = "latest",
        argument_filters: Mapping[str, Any] | None = None,
    ) -> list[Mapping[str, Any]]:
        """Decoded logs of a contract event (`contract.events.Name`) in a block range, in
        web3's shape; filtered and decoded here (`node.chain.events`), not by web3."""
        codec = EventCodec.of(event.abi)
        query = {
            "address": event.address,
            "fromBlock": hex(from_block),
            "toBlock": to_block if isinstance(to_block, str) else hex(to_block),
            "topics": codec.topics(argument_filters or {}),
        }
        answer = await self._with_retries(lambda: self._request("eth_getLogs", [query]))
        if not isinstance(answer, list):
            raise ChainError(f"eth_getLogs: not a list of logs: {str(answer)[:200]}")
        try:
            return [codec.decode(log) for log in answer]
        except LogDecodeError as exc:
            raise ChainError(f"eth_getLogs: {exc}") from None

    async def _allocator(self, sender: Sender) -> NonceAllocator:
        key = (sender.address, await self.chain_id())
        if key not in self._nonces:
            checksum = AsyncWeb3.to_checksum_address(sender.address)
            self._nonces[key] = NonceAllocator(
                lambda: self.w3.eth.get_transaction_count(checksum, "pending")
            )
        return self._nonces[key]

    async def transact(self, function: Any, sender: Sender, value: int = 0) -> Receipt:
        """Estimate, sign with a fresh nonce, send, and wait for the receipt."""
        params: dict[str, Any] = {
            "from": AsyncWeb3.to_checksum_address(sender.address),
            "value": value,
        }
        try:
            # "pending": the block the transaction will land in (block.number-keyed state).
            gas = await self._with_retries(lambda: function.estimate_gas(params, "pending"))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self._revert(exc) from None
        params |= {"gas": gas * GAS_MARGIN_NUM // GAS_MARGIN_DEN, "chainId": await self.chain_id()}

        async def build(nonce: int) -> dict[str, Any]:
            built: dict[str, Any] = await function.build_transaction(params | {"nonce": nonce})
            return built

        return await self._await_receipt(await self._send(sender, build))

    async def transfer(self, sender: Sender, to: str, value: int) -> Receipt:
        """Send plain ETH (funding dev accounts)."""
        chain_id = await self.chain_id()

        async def build(nonce: int) -> dict[str, Any]:
            return {
                "from": AsyncWeb3.to_checksum_address(sender.address),
                "to": AsyncWeb3.to_checksum_address(to),
                "value": value,
                "gas": 21_000,
                "nonce": nonce,
                "chainId": chain_id,
                **await self._fees(),
            }

        return await self._await_receipt(await self._send(sender, build))

    async def _fees(self) -> dict[str, int]:
        """EIP-1559 fees with room for the base fee to double before inclusion."""
        block = await self._with_retries(lambda: self.w3.eth.get_block("latest"))
        tip = await self._with_retries(lambda: self.w3.eth.max_priority_fee)
        return {"maxFeePerGas": 2 * int(block["baseFeePerGas"]) + tip, "maxPriorityFeePerGas": tip}

    async def _send(self, sender: Sender, build: Callable[[int], Awaitable[dict[str, Any]]]) -> str:
        """Sign and send what `build(nonce)` returns; a nonce clash resyncs and retries once."""
        allocator = await self._allocator(sender)
        for attempt in range(2):
            nonce = await allocator.allocate()
            try:
                transaction = await self._with_retries(lambda: build(nonce))  # noqa: B023
                signed = Account.sign_transaction(transaction, sender.private_key)
                sent = await self._send_raw(bytes(signed.raw_transaction))
            except Web3RPCError as exc:
                await allocator.resync()
                if attempt == 0 and any(text in str(exc) for text in _NONCE_TROUBLE):
                    continue
                raise
            except BaseException:
                # The nonce was never used: forget the counter so no gap stalls later sends.
                await allocator.resync()
                raise
            return "0x" + sent.hex()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_raw(self, raw_transaction: bytes) -> bytes:
        return bytes(
            await self._with_retries(lambda: self.w3.eth.send_raw_transaction(raw_transaction))
        )

    async def _await_receipt(self, tx_hash: str) -> Receipt:
        try:
            raw = await self.w3.eth.wait_for_transaction_receipt(
                HexStr(tx_hash), timeout=self._receipt_timeout_s, poll_latency=RECEIPT_POLL_S
            )
        except TimeExhausted:
            message = f"no receipt for {tx_hash} in {self._receipt_timeout_s} s"
            raise ChainTimeoutError(message) from None
        if raw["status"] != 1:
            raise await self._explain_failure(tx_hash, int(raw["blockNumber"]), int(raw["gasUsed"]))
        address = raw.get("contractAddress")
        return Receipt(
            tx_hash=tx_hash,
            block_number=int(raw["blockNumber"]),
            gas_used=int(raw["gasUsed"]),
            contract_address=str(address).lower() if address else None,
            logs=tuple(raw["logs"]),
        )

    async def transaction_input(self, tx_hash: str) -> bytes:
        """The calldata a mined transaction carried."""
        sent = await self._with_retries(lambda: self.w3.eth.get_transaction(HexStr(tx_hash)))
        return bytes(sent["input"])

    async def gas_used(self, tx_hash: str) -> int:
        """Gas a mined transaction used, from its receipt."""
        raw = await self._with_retries(lambda: self.w3.eth.get_transaction_receipt(HexStr(tx_hash)))
        return int(raw["gasUsed"])

    async def _explain_failure(
        self, tx_hash: str, block_number: int, gas_used: int
    ) -> TransactionRevertedError:
        """Replay a failed transaction as a call on its parent block to recover the revert."""
        sent = await self._with_retries(lambda: self.w3.eth.get_transaction(HexStr(tx_hash)))
        replay: TxParams = {"from": sent["from"], "value": sent["value"], "data": sent["input"]}
        if sent.get("to"):
            replay["to"] = sent["to"]
        try:
            await self._with_retries(lambda: self.w3.eth.call(replay, block_number - 1))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            return self._revert(exc, tx_hash)
        if gas_used >= int(sent["gas"]):
            return TransactionRevertedError("OutOfGas", (gas_used,), tx_hash)
        return TransactionRevertedError("reverted on inclusion", (), tx_hash)

    async def deploy(
        self,
        abi: Sequence[Mapping[str, Any]],
        bytecode: str,
        sender: Sender,
        *args: Any,
        value: int = 0,
    ) -> Receipt:
        """Deploy a contract; the receipt's `contract_address` is where it lives."""
        self._decoder.add(abi)
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        return await self.transact(factory.constructor(*args), sender, value)
