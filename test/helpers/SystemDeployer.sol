// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PRBTest} from "@prb/test/src/PRBTest.sol";
import {EAS} from "@ethereum-attestation-service/eas-contracts/contracts/EAS.sol";
import {SchemaRegistry} from "@ethereum-attestation-service/eas-contracts/contracts/SchemaRegistry.sol";
import {ISchemaResolver} from "@ethereum-attestation-service/eas-contracts/contracts/resolver/ISchemaResolver.sol";
import {
    AttestationRequest,
    AttestationRequestData,
    RevocationRequest,
    RevocationRequestData
} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {GovernanceToken} from "../../contracts/governance/GovernanceToken.sol";
import {PolicyGovernor} from "../../contracts/governance/PolicyGovernor.sol";
import {PolicyRegistry} from "../../contracts/policy/PolicyRegistry.sol";
import {ContributorRewards} from "../../contracts/rewards/ContributorRewards.sol";
import {UsageSettlement} from "../../contracts/rewards/UsageSettlement.sol";
import {RunRewards} from "../../contracts/rewards/RunRewards.sol";
import {ModelCommitments} from "../../contracts/models/ModelCommitments.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {IUsageSettlement} from "../../contracts/interfaces/IUsageSettlement.sol";
import {Bounds} from "./Bounds.sol";
import {IVmExtended} from "./IVmExtended.sol";

/// @title SystemDeployer
/// @notice The one Solidity base for the contract tests: deploys and wires the whole system the way
/// `scripts/lib/deploySystem.ts` does, with the settings of `test/helpers/system.ts`, and offers
/// helpers to pass proposals through governance, make EAS attestations and sign queries. Modelled
/// on Uniswap v4's `Deployers`: tests call `_deploySystem()` (and usually `_configurePolicy()`)
/// in their `setUp`.
/// @dev The test contract itself is the deployer; like the script, it ends with no role and no
/// tokens, so from then on only proposals change anything.
// The base holds the whole system and its actors, which every test reads: more state than a contract.
// solhint-disable-next-line max-states-count
abstract contract SystemDeployer is PRBTest {
    // ---------------------------------------------------------------------------------------------
    // Settings: those of test/helpers/system.ts, so both suites see the same system.
    // ---------------------------------------------------------------------------------------------

    /// @dev The EAS schema of training-data attestations (scripts/lib/deploySystem.ts `DATA_SCHEMA`).
    string internal constant DATA_SCHEMA = "bytes32 dataHash,uint64 size,string license,string provenance";
    uint256 internal constant TOKEN_SUPPLY = 1_000_000 ether;
    uint48 internal constant VOTING_DELAY = 1;
    uint32 internal constant VOTING_PERIOD = 50;
    uint256 internal constant PROPOSAL_THRESHOLD = 1 ether;
    uint256 internal constant QUORUM_NUMERATOR = 4;
    uint48 internal constant LATE_QUORUM_EXTENSION = 10;
    uint256 internal constant TIMELOCK_DELAY = 60;
    uint64 internal constant EPOCH_LENGTH = 3600;
    uint64 internal constant REVEAL_DELAY = 600;

    /// @dev What `_configurePolicy` sets: each consumer's quota per epoch and the fee per query.
    uint64 internal constant QUOTA = 100;
    uint256 internal constant FEE = 0.001 ether;

    /// @dev The EIP-712 domain type, as OpenZeppelin's EIP712 hashes it.
    bytes32 internal constant EIP712_DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );

    /// @dev EDR's cheatcodes that `@prb/test`'s `Vm` lacks.
    IVmExtended internal constant VM_EXT = IVmExtended(VM_ADDRESS);

    // ---------------------------------------------------------------------------------------------
    // The system
    // ---------------------------------------------------------------------------------------------

    SchemaRegistry internal _schemaRegistry;
    EAS internal _eas;
    bytes32 internal _dataSchemaUID;
    GovernanceToken internal _token;
    TimelockController internal _timelock;
    PolicyGovernor internal _governor;
    PolicyRegistry internal _registry;
    ContributorRewards internal _rewards;
    UsageSettlement internal _settlement;
    ModelCommitments internal _commitments;
    RunRewards internal _runRewards;

    // ---------------------------------------------------------------------------------------------
    // Actors: the parts of test/helpers/system.ts. Those who sign off chain have a key.
    // ---------------------------------------------------------------------------------------------

    address[3] internal _holders;
    uint256[3] internal _holderKeys;
    uint256[3] internal _holderBalances = [uint256(400_000 ether), 250_000 ether, 100_000 ether];
    address internal _guardian;
    address internal _attester;
    address internal _attester2;
    address internal _contributor;
    address internal _contributor2;
    address internal _consumer;
    uint256 internal _consumerKey;
    address internal _worker;
    address internal _outsider;

    /// @dev Makes every proposal's description, and so its id, unique.
    uint256 private _proposalCount;

    /// @notice The arguments a Governor takes to propose, queue, execute or cancel a proposal.
    struct Proposal {
        address[] targets;
        uint256[] values;
        bytes[] calldatas;
        string description;
    }

    // ---------------------------------------------------------------------------------------------
    // Deployment
    // ---------------------------------------------------------------------------------------------

    /// @notice Creates the actors and deploys and wires the whole system as `deploySystem` does:
    /// EAS with the data schema, the token, the timelock (the Governor its only proposer and
    /// canceller, anyone its executor, the deployer's admin role renounced), the registry, the Governor
    /// (which knows the registry, for the guardian-role calls its guardian cannot cancel), the
    /// rewards, commitments, run rewards and settlement. Holders delegate to themselves.
    function _deploySystem() internal {
        _createActors();

        _schemaRegistry = new SchemaRegistry();
        _eas = new EAS(_schemaRegistry);
        _dataSchemaUID = _schemaRegistry.register(DATA_SCHEMA, ISchemaResolver(address(0)), true);

        _token = new GovernanceToken("DAO AI Governance", "DAIG", address(this), TOKEN_SUPPLY);
        address[] memory executors = new address[](1); // The zero address: anyone may execute.
        _timelock = new TimelockController(TIMELOCK_DELAY, new address[](0), executors, address(this));
        _registry = new PolicyRegistry(address(_timelock), _guardian, EPOCH_LENGTH, REVEAL_DELAY);
        _governor = new PolicyGovernor(
            _token,
            _timelock,
            PolicyGovernor.Params({
                votingDelay: VOTING_DELAY,
                votingPeriod: VOTING_PERIOD,
                proposalThreshold: PROPOSAL_THRESHOLD,
                quorumNumerator: QUORUM_NUMERATOR,
                lateQuorumExtension: LATE_QUORUM_EXTENSION,
                proposalGuardian: _guardian,
                policyRegistry: address(_registry)
            })
        );
        _rewards = new ContributorRewards(_registry, _eas);
        _commitments = new ModelCommitments(_registry);
        _runRewards = new RunRewards(_registry, _rewards, _commitments);
        _settlement = new UsageSettlement(_registry, _rewards, _commitments, _runRewards);

        _timelock.grantRole(_timelock.PROPOSER_ROLE(), address(_governor));
        _timelock.grantRole(_timelock.CANCELLER_ROLE(), address(_governor));
        uint256 allocated = 0;
        for (uint256 i = 0; i < _holders.length; ++i) {
            _token.transfer(_holders[i], _holderBalances[i]);
            allocated += _holderBalances[i];
        }
        _token.transfer(address(_timelock), TOKEN_SUPPLY - allocated);
        _timelock.renounceRole(_timelock.DEFAULT_ADMIN_ROLE(), address(this));

        _label();
        for (uint256 i = 0; i < _holders.length; ++i) {
            vm.prank(_holders[i]);
            _token.delegate(_holders[i]);
        }
        vm.roll(block.number + 1);
    }

    /// @notice Passes one proposal that sets the policy most tests start from: `_worker` authorised,
    /// `_contributor` and `_contributor2` allowed, one attestation from `_attester` or `_attester2` on
    /// the data schema required (no age limit), `_consumer` given `QUOTA` queries per epoch at `FEE`.
    function _configurePolicy() internal {
        address[] memory attesters = new address[](2);
        attesters[0] = _attester;
        attesters[1] = _attester2;
        bytes[] memory calls = new bytes[](5);
        calls[0] = abi.encodeCall(IPolicyRegistry.setWorker, (_worker, true));
        address[] memory submitters = new address[](2);
        submitters[0] = _contributor;
        submitters[1] = _contributor2;
        calls[1] = abi.encodeCall(IPolicyRegistry.setSubmitters, (submitters, true));
        calls[2] = abi.encodeCall(IPolicyRegistry.setAttestationRequirement, (_dataSchemaUID, attesters, 1, 0));
        calls[3] = abi.encodeCall(IPolicyRegistry.setQuota, (_consumer, QUOTA));
        calls[4] = abi.encodeCall(IPolicyRegistry.setQueryFee, (FEE));
        _pass(_proposal(address(_registry), calls));
    }

    // ---------------------------------------------------------------------------------------------
    // Governance
    // ---------------------------------------------------------------------------------------------

    /// @notice A proposal of one call to `target`, with a fresh description.
    function _proposal(address target, bytes memory data) internal returns (Proposal memory p) {
        bytes[] memory calls = new bytes[](1);
        calls[0] = data;
        return _proposal(target, calls);
    }

    /// @notice A proposal of several calls to one `target`, with a fresh description.
    function _proposal(address target, bytes[] memory calls) internal returns (Proposal memory p) {
        p.targets = new address[](calls.length);
        p.values = new uint256[](calls.length);
        p.calldatas = calls;
        for (uint256 i = 0; i < calls.length; ++i) {
            p.targets[i] = target;
        }
        p.description = string.concat("proposal #", vm.toString(++_proposalCount));
    }

    /// @notice The hash the Governor identifies a description by.
    function _descriptionHash(Proposal memory p) internal pure returns (bytes32) {
        return keccak256(bytes(p.description));
    }

    /// @notice The id the Governor gives `p`.
    function _proposalId(Proposal memory p) internal view returns (uint256) {
        return _governor.getProposalId(p.targets, p.values, p.calldatas, _descriptionHash(p));
    }

    /// @notice `_holders[0]` proposes `p`.
    function _propose(Proposal memory p) internal returns (uint256 proposalId) {
        vm.prank(_holders[0]);
        return _governor.propose(p.targets, p.values, p.calldatas, p.description);
    }

    /// @notice Rolls to the first block the vote on `proposalId` is open.
    function _rollToVoting(uint256 proposalId) internal {
        vm.roll(_governor.proposalSnapshot(proposalId) + 1);
    }

    /// @notice Every holder votes `support` (0 against, 1 for, 2 abstain) on `proposalId`.
    function _voteAll(uint256 proposalId, uint8 support) internal {
        for (uint256 i = 0; i < _holders.length; ++i) {
            vm.prank(_holders[i]);
            _governor.castVote(proposalId, support);
        }
    }

    /// @notice Rolls past the end of the vote on `proposalId` (late-quorum extension included).
    function _rollPastVoting(uint256 proposalId) internal {
        vm.roll(_governor.proposalDeadline(proposalId) + 1);
    }

    /// @notice Queues `p` in the timelock (anyone may).
    function _queue(Proposal memory p) internal {
        vm.prank(_outsider);
        _governor.queue(p.targets, p.values, p.calldatas, _descriptionHash(p));
    }

    /// @notice Warps to the moment the timelock lets `p` execute.
    function _warpPastTimelock(Proposal memory p) internal {
        uint256 eta = _governor.proposalEta(_proposalId(p));
        if (block.timestamp < eta) vm.warp(eta);
    }

    /// @notice Executes `p` (anyone may).
    function _execute(Proposal memory p) internal {
        vm.prank(_outsider);
        _governor.execute(p.targets, p.values, p.calldatas, _descriptionHash(p));
    }

    /// @notice Proposes `p`, has every holder vote for it, queues it and executes it.
    function _pass(Proposal memory p) internal returns (uint256 proposalId) {
        proposalId = _propose(p);
        _rollToVoting(proposalId);
        _voteAll(proposalId, 1);
        _rollPastVoting(proposalId);
        _queue(p);
        _warpPastTimelock(p);
        _execute(p);
    }

    /// @notice Passes a proposal of one call to the registry.
    function _passPolicy(bytes memory data) internal returns (uint256 proposalId) {
        return _pass(_proposal(address(_registry), data));
    }

    /// @notice A ballot signed with `key` in the Governor's EIP-712 domain.
    function _signBallot(
        uint256 key,
        uint256 proposalId,
        uint8 support,
        uint256 nonce
    ) internal view returns (bytes memory) {
        bytes32 domain = keccak256(
            abi.encode(
                EIP712_DOMAIN_TYPEHASH,
                keccak256(bytes(_governor.name())),
                keccak256(bytes(_governor.version())),
                block.chainid,
                address(_governor)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(_governor.BALLOT_TYPEHASH(), proposalId, support, vm.addr(key), nonce)
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    // ---------------------------------------------------------------------------------------------
    // Attestations
    // ---------------------------------------------------------------------------------------------

    /// @notice The attestation data of the data schema for (`dataHash`, `size`).
    function _attestationData(bytes32 dataHash, uint64 size) internal pure returns (bytes memory) {
        return abi.encode(dataHash, size, "CC-BY-4.0", "ipfs://provenance");
    }

    /// @notice `by` attests on the data schema that `recipient` contributed (`dataHash`, `size`).
    function _attest(address by, address recipient, bytes32 dataHash, uint64 size) internal returns (bytes32 uid) {
        return _attestRaw(by, _dataSchemaUID, recipient, 0, _attestationData(dataHash, size));
    }

    /// @notice `by` makes any attestation on EAS: another schema, an expiry, arbitrary data.
    function _attestRaw(
        address by,
        bytes32 schema,
        address recipient,
        uint64 expirationTime,
        bytes memory data
    ) internal returns (bytes32 uid) {
        vm.prank(by);
        return
            _eas.attest(
                AttestationRequest({
                    schema: schema,
                    data: AttestationRequestData({
                        recipient: recipient,
                        expirationTime: expirationTime,
                        revocable: true,
                        refUID: bytes32(0),
                        data: data,
                        value: 0
                    })
                })
            );
    }

    /// @notice `by` revokes its attestation `uid` on the data schema.
    function _revoke(address by, bytes32 uid) internal {
        vm.prank(by);
        _eas.revoke(RevocationRequest({schema: _dataSchemaUID, data: RevocationRequestData({uid: uid, value: 0})}));
    }

    /// @notice One attestation UID as the array `recordContribution` takes.
    function _uids(bytes32 uid) internal pure returns (bytes32[] memory uids) {
        uids = new bytes32[](1);
        uids[0] = uid;
    }

    /// @notice Two attestation UIDs as the array `recordContribution` takes.
    function _uids(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory uids) {
        uids = new bytes32[](2);
        uids[0] = a;
        uids[1] = b;
    }

    /// @notice `_attester` attests (`dataHash`, `size`) to `who`, and `_worker` records it with a
    /// weight (unique records) of `size`, so that shares in these tests read as the sizes do.
    function _recordAttested(address who, bytes32 dataHash, uint64 size) internal {
        bytes32[] memory uids = _uids(_attest(_attester, who, dataHash, size));
        vm.prank(_worker);
        _rewards.recordContribution(who, dataHash, size, size, uids);
    }

    // ---------------------------------------------------------------------------------------------
    // Queries and epochs
    // ---------------------------------------------------------------------------------------------

    /// @notice A Usage voucher for `_worker`'s lane of the holder of `key` in `epoch`, signed by
    /// that key, as `settle` takes it: deadline an hour from now, input hash derived from the total.
    function _signVoucher(
        uint256 key,
        uint64 epoch,
        uint64 total,
        uint256 maxFeePerQuery
    ) internal view returns (IUsageSettlement.Voucher memory v) {
        v.consumer = vm.addr(key);
        v.epoch = epoch;
        v.total = total;
        v.maxFeePerQuery = maxFeePerQuery;
        v.inputHash = keccak256(abi.encode("input", total));
        v.deadline = uint64(block.timestamp + 1 hours);
        v.signature = _sign(
            key,
            _settlement.usageDigest(
                v.consumer,
                address(0),
                _worker,
                epoch,
                total,
                maxFeePerQuery,
                v.inputHash,
                v.deadline
            )
        );
    }

    /// @notice One voucher as the array `settle` takes.
    function _vouchers(IUsageSettlement.Voucher memory v) internal pure returns (IUsageSettlement.Voucher[] memory b) {
        b = new IUsageSettlement.Voucher[](1);
        b[0] = v;
    }

    /// @notice A grant of `key` by the holder of `consumerKey`: any worker, a day, `maxQueries`
    /// queries at most `maxFeePerQuery` each; and the consumer's signature over it.
    function _signGrant(
        uint256 consumerKey,
        address key,
        uint64 maxQueries,
        uint256 maxFeePerQuery
    ) internal view returns (IUsageSettlement.KeyGrant memory grant, bytes memory signature) {
        grant = IUsageSettlement.KeyGrant({
            consumer: vm.addr(consumerKey),
            key: key,
            worker: address(0),
            maxQueries: maxQueries,
            maxFeePerQuery: maxFeePerQuery,
            expiresAt: uint64(block.timestamp + 1 days)
        });
        signature = _sign(consumerKey, _settlement.keyGrantDigest(grant));
    }

    /// @notice A bearer key's settlement of its lane at `_worker` up to `total` (the worker's count).
    function _bearerSettlement(
        IUsageSettlement.KeyGrant memory grant,
        bytes memory grantSignature,
        uint64 epoch,
        uint64 total
    ) internal pure returns (IUsageSettlement.KeySettlement[] memory b) {
        b = new IUsageSettlement.KeySettlement[](1);
        b[0] = IUsageSettlement.KeySettlement(grant, grantSignature, epoch, total, bytes32(0), 0, "");
    }

    /// @notice `digest` signed by the holder of `key`, as 65 bytes (r, s, v).
    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice Deposits `amount` wei for `who`, from `who`.
    function _deposit(address who, uint256 amount) internal {
        vm.deal(who, amount);
        vm.prank(who);
        _settlement.deposit{value: amount}(who);
    }

    /// @notice Warps to the first second of `epoch`.
    function _warpToEpoch(uint64 epoch) internal {
        vm.warp(uint256(_registry.epochGenesis()) + uint256(epoch) * EPOCH_LENGTH);
    }

    /// @notice Warps to the first second of the next epoch, ending the current one.
    function _endEpoch() internal {
        vm.warp(_registry.epochEnd(_registry.currentEpoch()));
    }

    /// @notice Marks every system contract cold, so the next call pays what a fresh transaction would.
    function _coolSystem() internal {
        VM_EXT.cool(address(_eas));
        VM_EXT.cool(address(_schemaRegistry));
        VM_EXT.cool(address(_token));
        VM_EXT.cool(address(_timelock));
        VM_EXT.cool(address(_governor));
        VM_EXT.cool(address(_registry));
        VM_EXT.cool(address(_rewards));
        VM_EXT.cool(address(_settlement));
        VM_EXT.cool(address(_commitments));
        VM_EXT.cool(address(_runRewards));
    }

    // ---------------------------------------------------------------------------------------------
    // Fuzzing
    // ---------------------------------------------------------------------------------------------

    /// @notice Maps `x` into [`min`, `max`] (forge-std's `bound`, which `@prb/test` lacks).
    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return Bounds.bound(x, min, max);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    function _createActors() private {
        for (uint256 i = 0; i < _holders.length; ++i) {
            (_holders[i], _holderKeys[i]) = _actor(string.concat("holder", vm.toString(i)));
        }
        (_guardian, ) = _actor("guardian");
        (_attester, ) = _actor("attester");
        (_attester2, ) = _actor("attester2");
        (_contributor, ) = _actor("contributor");
        (_contributor2, ) = _actor("contributor2");
        (_consumer, _consumerKey) = _actor("consumer");
        (_worker, ) = _actor("worker");
        (_outsider, ) = _actor("outsider");
    }

    /// @notice A labelled account whose key is derived from its name.
    function _actor(string memory name) internal returns (address account, uint256 key) {
        key = uint256(keccak256(bytes(name)));
        account = vm.addr(key);
        vm.label(account, name);
    }

    function _label() private {
        vm.label(address(_schemaRegistry), "SchemaRegistry");
        vm.label(address(_eas), "EAS");
        vm.label(address(_token), "GovernanceToken");
        vm.label(address(_timelock), "TimelockController");
        vm.label(address(_governor), "PolicyGovernor");
        vm.label(address(_registry), "PolicyRegistry");
        vm.label(address(_rewards), "ContributorRewards");
        vm.label(address(_settlement), "UsageSettlement");
        vm.label(address(_commitments), "ModelCommitments");
    }
}
