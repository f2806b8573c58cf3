"""`ChainClient.call` encodes and decodes view calls itself: the answers must be web3's, on a
real Anvil with the real contracts, and reverts and missing contracts must read as before."""

from __future__ import annotations

from typing import Any

import pytest

from devnet.accounts import dev_private_key
from node.chain import ChainClient, ChainError, Sender, TransactionRevertedError
from node.chain.ledger import LedgerClient
from protocol.eip712 import compute_reveal_digest
from protocol.hdag import build_hdag
from protocol.layout import compute_segment_layout
from protocol.models import Reveal, Trace, Vote, VoteEntry
from tests.integration.conftest import Chain

TRACE_ID = "0x" + "11" * 32


def _views(ledger: LedgerClient, chain: Chain, head: int) -> dict[str, Any]:
    """Every view the node calls, with arguments of each ABI shape it uses."""
    registry, contract = ledger.registry.functions, ledger.ledger.functions
    checksummed = [ledger.chain.w3.to_checksum_address(a) for a in chain.auditors]
    return {
        "stakeOf": registry.stakeOf(checksummed[0]),
        "stakesAndTiersAt": registry.stakesAndTiersAt(checksummed, head - 1),
        "tierStakeAt": registry.tierStakeAt(0, head - 1),
        "traceOf": contract.traceOf(bytes.fromhex(TRACE_ID[2:])),
        "verdictOf": contract.verdictOf(bytes.fromhex(TRACE_ID[2:])),
        "rewardsOf": contract.rewardsOf(checksummed[1]),
        "minFee": contract.minFee(),
        "disputeWindow": contract.disputeWindow(),
        "domainSeparator": contract.domainSeparator(),
    }


async def test_every_view_answers_as_web3_does(chain: Chain) -> None:
    client = ChainClient(chain.rpc_url)
    ledger = LedgerClient(client, chain.ledger, chain.registry)
    try:
        head = await client.block_number()
        assert head == await client.w3.eth.block_number
        for name, function in _views(ledger, chain, head).items():
            ours = await client.call(function)
            theirs = await function.call()
            assert ours == theirs, name
            assert type(ours) is type(theirs), name
        # At an older block too (the block is sent as a hex quantity).
        stakes = ledger.registry.functions.stakeOf(client.w3.to_checksum_address(chain.auditors[0]))
        assert await client.call(stakes, 1) == await stakes.call(block_identifier=1)
    finally:
        await client.close()


async def test_arguments_eth_abi_does_not_take_go_through_web3(chain: Chain) -> None:
    client = ChainClient(chain.rpc_url)
    ledger = LedgerClient(client, chain.ledger, chain.registry)
    auditor = client.w3.to_checksum_address(chain.auditors[0])
    try:
        by_keyword = ledger.registry.functions.stakeOf(auditor=auditor)
        hex_trace_id = ledger.ledger.functions.verdictOf(TRACE_ID)  # web3 converts hex to bytes
        assert await client.call(by_keyword) == await by_keyword.call() > 0
        assert await client.call(hex_trace_id) == await hex_trace_id.call()
    finally:
        await client.close()


async def test_a_struct_argument_is_encoded_as_the_contract_reads_it(chain: Chain) -> None:
    client = ChainClient(chain.rpc_url)
    ledger = LedgerClient(client, chain.ledger, chain.registry)
    reveal = Reveal(
        trace_id=TRACE_ID,
        round=1,
        auditor=chain.auditors[0],
        votes=(
            VoteEntry(segment=0, vote=Vote.VALID, confidence=9000, rationale="0x" + "00" * 32),
            VoteEntry(segment=3, vote=Vote.INVALID, confidence=5000, rationale="0x" + "ab" * 32),
        ),
        salt="0x" + "22" * 32,
        signature="0x" + "00" * 65,
    )
    try:
        domain = await ledger.domain_separator()
        assert await ledger.reveal_digest(reveal) == compute_reveal_digest(reveal, domain)
    finally:
        await client.close()


async def test_a_reverting_view_names_the_contracts_error(chain: Chain) -> None:
    client = ChainClient(chain.rpc_url)
    ledger = LedgerClient(client, chain.ledger, chain.registry)
    try:
        head = await client.block_number()
        with pytest.raises(TransactionRevertedError) as caught:
            await client.call(ledger.registry.functions.tierStakeAt(7, head - 1))
        assert caught.value.error == "InvalidTier"
        assert caught.value.args_decoded == (7,)
    finally:
        await client.close()


async def test_a_call_to_an_address_without_code_is_a_chain_error(chain: Chain) -> None:
    client = ChainClient(chain.rpc_url)
    nowhere = Sender.from_key(dev_private_key(9)).address
    ledger = LedgerClient(client, chain.ledger, nowhere)
    try:
        with pytest.raises(ChainError, match="no contract answering stakeOf"):
            await client.call(
                ledger.registry.functions.stakeOf(ledger.chain.w3.to_checksum_address(nowhere))
            )
    finally:
        await client.close()


async def test_an_unreachable_chain_is_unavailable_after_retries() -> None:
    client = ChainClient("http://127.0.0.1:9", retries=1, backoff_s=0.01)
    ledger = LedgerClient(client, "0x" + "33" * 20, "0x" + "44" * 20)
    try:
        with pytest.raises(ChainError, match="cannot reach the chain"):
            await client.call(ledger.ledger.functions.minFee())
    finally:
        await client.close()


async def test_a_transaction_sent_directly_is_mined_and_its_revert_named(chain: Chain) -> None:
    """`transact` encodes and posts contract transactions itself: a submission is mined with
    its event readable from the receipt, and a rejected one names the contract's error."""
    client = ChainClient(chain.rpc_url)
    ledger = LedgerClient(client, chain.ledger, chain.registry)
    sender = Sender.from_key(dev_private_key(7))
    hdag = build_hdag(Trace(problem="What is 2 + 3?", steps=("2 + 3 = 5", "So the answer is 5.")))
    trace_id, root, layout = "0x" + "7a" * 32, hdag.root, compute_segment_layout(hdag)
    try:
        min_fee = (await ledger.settings()).min_fee
        with pytest.raises(TransactionRevertedError) as caught:
            await ledger.submit_trace(sender, trace_id, root, 3, layout, min_fee - 1)
        assert caught.value.error == "FeeTooLow"
        assert caught.value.args_decoded == (min_fee - 1, min_fee)
        submitted = await ledger.submit_trace(sender, trace_id, root, 3, layout, min_fee)
        assert submitted.receipt.gas_used > 21_000
        found = await ledger.submission_of(trace_id)
        assert found is not None and found.submitter == sender.address
        assert found.seed == submitted.seed and found.tx_hash == submitted.receipt.tx_hash
        with pytest.raises(TransactionRevertedError) as again:
            await ledger.submit_trace(sender, trace_id, root, 3, layout, min_fee)
        assert again.value.error == "TraceAlreadySubmitted"
    finally:
        await client.close()
