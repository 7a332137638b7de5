// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {IModelCommitments} from "../../contracts/interfaces/IModelCommitments.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {IRunRewards} from "../../contracts/interfaces/IRunRewards.sol";
import {RunRewardsReentrantClaimer} from "../helpers/RunRewardsReentrantClaimer.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Rewards follow use: a run's pool pays the contributions its model committed, pro rata
/// to their weights, with StandardMerkleTree proofs, cumulatively, never twice and never more
/// than the pool.
contract RunRewardsTest is SystemDeployer {
    bytes32 internal constant RUN_ID = keccak256("run-1");
    bytes32 internal constant DATA_A = keccak256("data a");
    bytes32 internal constant DATA_B = keccak256("data b");
    bytes32 internal constant DATA_C = keccak256("data c");
    bytes32 internal constant DATA_D = keccak256("data d");
    /// @dev Recorded, but in no committed model.
    bytes32 internal constant DATA_OUT = keccak256("data out");

    /// @dev The run's four leaves, in tree order, and their weights (total 500).
    bytes32[4] internal _data = [DATA_A, DATA_B, DATA_C, DATA_D];
    address[4] internal _owners;
    uint256[4] internal _weights = [uint256(300), 100, 50, 50];
    uint256 internal constant TOTAL = 500;
    /// @dev What each leaf was paid, in the fuzz test.
    uint256[4] internal _paid;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        _owners = [_contributor, _contributor2, _contributor, _contributor2];
        for (uint256 i = 0; i < 4; ++i) {
            _recordAttested(_owners[i], _data[i], 1_000);
        }
        _recordAttested(_contributor2, DATA_OUT, 1_000);
        vm.deal(address(this), 100 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // Funding
    // ---------------------------------------------------------------------------------------------

    function test_FundRunCopiesTheCommitment() public {
        bytes32 root = _commitRun(RUN_ID, _weights, TOTAL);
        vm.expectEmit(address(_runRewards));
        emit IRunRewards.RunFunded(RUN_ID, address(this), 1 ether);
        _runRewards.fundRun{value: 1 ether}(RUN_ID);
        _runRewards.fundRun{value: 0.5 ether}(RUN_ID);
        IRunRewards.RunPool memory pool = _runRewards.runPool(RUN_ID);
        assertEq(pool.received, 1.5 ether);
        assertEq(pool.paid, 0);
        assertEq(pool.totalWeight, TOTAL);
        assertEq(pool.root, root);
        assertEq(address(_runRewards).balance, 1.5 ether);
    }

    function test_RevertIf_FundedRunHasNoCommitment() public {
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsNotCommitted.selector, RUN_ID));
        _runRewards.fundRun{value: 1 ether}(RUN_ID);
        assertEq(_runRewards.runPool(RUN_ID).received, 0);
    }

    function test_RevertIf_FundedWithNothing() public {
        _commitRun(RUN_ID, _weights, TOTAL);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsZeroAmount.selector));
        _runRewards.fundRun(RUN_ID);
    }

    /// @dev The treasury grants to a run's pool through a proposal, as it grants to an epoch's.
    function test_TreasuryGrantsToARun() public {
        _commitRun(RUN_ID, _weights, TOTAL);
        vm.deal(address(_timelock), 2 ether);
        Proposal memory p = _proposal(address(_runRewards), abi.encodeCall(IRunRewards.fundRun, (RUN_ID)));
        p.values[0] = 2 ether;
        _pass(p);
        assertEq(_runRewards.runPool(RUN_ID).received, 2 ether);
        assertEq(_runRewards.claimable(RUN_ID, DATA_A, 300, _proofOf(0)), 1.2 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // Claims
    // ---------------------------------------------------------------------------------------------

    function test_ClaimPaysTheLeafItsShare() public {
        _fundedRun(1 ether);
        uint256 before = _contributor.balance;
        vm.expectEmit(address(_runRewards));
        emit IRunRewards.RunRewardClaimed(RUN_ID, DATA_A, _contributor, 0.6 ether);
        vm.prank(_contributor);
        uint256 amount = _runRewards.claim(RUN_ID, DATA_A, 300, _proofOf(0));
        assertEq(amount, 0.6 ether);
        assertEq(_contributor.balance - before, 0.6 ether);
        assertEq(_runRewards.claimed(RUN_ID, DATA_A), 0.6 ether);
        assertEq(_runRewards.runPool(RUN_ID).paid, 0.6 ether);
        assertEq(_runRewards.claimable(RUN_ID, DATA_A, 300, _proofOf(0)), 0);
    }

    /// @dev Fees keep arriving as the model keeps answering: a leaf claims the difference later.
    function test_ClaimIsCumulative() public {
        _fundedRun(1 ether);
        _claim(0);
        _runRewards.fundRun{value: 3 ether}(RUN_ID);
        assertEq(_runRewards.claimable(RUN_ID, DATA_A, 300, _proofOf(0)), 1.8 ether);
        assertEq(_claim(0), 1.8 ether);
        assertEq(_runRewards.claimed(RUN_ID, DATA_A), 2.4 ether);
    }

    /// @dev Anyone may send the claim (a relayer paying the gas, say): the money goes to the leaf's contributor.
    function test_ClaimBySomeoneElsePaysTheContributor() public {
        _fundedRun(1 ether);
        uint256 before = _contributor2.balance;
        vm.prank(_outsider);
        _runRewards.claim(RUN_ID, DATA_B, 100, _proofOf(1));
        assertEq(_contributor2.balance - before, 0.2 ether);
        assertEq(_outsider.balance, 0);
    }

    function test_ClaimManyPaysEachLeafToItsContributor() public {
        _fundedRun(1 ether);
        IRunRewards.LeafClaim[] memory claims = new IRunRewards.LeafClaim[](3);
        claims[0] = IRunRewards.LeafClaim(RUN_ID, DATA_A, 300, _proofOf(0));
        claims[1] = IRunRewards.LeafClaim(RUN_ID, DATA_B, 100, _proofOf(1));
        claims[2] = IRunRewards.LeafClaim(RUN_ID, DATA_C, 50, _proofOf(2));
        uint256 before1 = _contributor.balance;
        uint256 before2 = _contributor2.balance;
        vm.prank(_contributor);
        uint256 amount = _runRewards.claimMany(claims);
        assertEq(amount, 0.9 ether);
        assertEq(_contributor.balance - before1, 0.7 ether);
        assertEq(_contributor2.balance - before2, 0.2 ether);
        // Claimed leaves are skipped; only a batch with nothing at all is refused.
        _runRewards.fundRun{value: 1 ether}(RUN_ID);
        assertEq(_runRewards.claimMany(claims), 0.9 ether);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsNothingToClaim.selector, RUN_ID, DATA_A));
        _runRewards.claimMany(claims);
    }

    /// @dev A contribution in no committed model earns nothing from the model's fees.
    function test_RevertIf_DataNotInTheModel() public {
        _fundedRun(1 ether);
        bytes32[] memory proof = _proofOf(1);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsInvalidProof.selector, RUN_ID, DATA_OUT, 100));
        _runRewards.claim(RUN_ID, DATA_OUT, 100, proof);
        assertEq(_runRewards.claimable(RUN_ID, DATA_OUT, 100, proof), 0);
    }

    function test_RevertIf_WeightInflated() public {
        _fundedRun(1 ether);
        bytes32[] memory proof = _proofOf(1);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsInvalidProof.selector, RUN_ID, DATA_B, 400));
        _runRewards.claim(RUN_ID, DATA_B, 400, proof);
        assertEq(_runRewards.runPool(RUN_ID).paid, 0);
    }

    function test_RevertIf_ProofOfAnotherLeaf() public {
        _fundedRun(1 ether);
        bytes32[] memory proof = _proofOf(0);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsInvalidProof.selector, RUN_ID, DATA_B, 100));
        _runRewards.claim(RUN_ID, DATA_B, 100, proof);
    }

    function test_RevertIf_NothingLeftToClaim() public {
        _fundedRun(1 ether);
        _claim(0);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsNothingToClaim.selector, RUN_ID, DATA_A));
        _claim(0);
    }

    function test_RevertIf_RunNeverFunded() public {
        _commitRun(RUN_ID, _weights, TOTAL);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsNotFunded.selector, RUN_ID));
        _claim(0);
    }

    /// @dev As in ContributorRewards: a vote that voids poisoned data stops its payments from every pool.
    function test_RevertIf_ContributionVoided() public {
        _fundedRun(1 ether);
        vm.prank(address(_timelock));
        _rewards.voidContribution(DATA_A);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsContributionVoided.selector, DATA_A));
        _claim(0);
        assertEq(_runRewards.claimable(RUN_ID, DATA_A, 300, _proofOf(0)), 0);
    }

    /// @dev As in ContributorRewards: claims wait while the kill switch is engaged, and resume after.
    function test_RevertIf_KillSwitchEngaged() public {
        _fundedRun(1 ether);
        vm.prank(_guardian);
        _registry.engageKillSwitch("poisoned data suspected");
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsKillSwitchEngaged.selector));
        _claim(0);
        IRunRewards.LeafClaim[] memory claims = new IRunRewards.LeafClaim[](1);
        claims[0] = IRunRewards.LeafClaim(RUN_ID, DATA_A, 300, _proofOf(0));
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsKillSwitchEngaged.selector));
        _runRewards.claimMany(claims);
        // Funding still works, as in ContributorRewards.
        _runRewards.fundRun{value: 1 ether}(RUN_ID);
        _passPolicy(abi.encodeCall(IPolicyRegistry.liftKillSwitch, (_registry.killSwitch().engagementId)));
        assertEq(_claim(0), 1.2 ether);
    }

    /// @dev The attack: a contributor contract re-enters `claim` for the same leaf when paid, to be
    /// paid its share twice before its claim is booked. The guard refuses the re-entry.
    function test_ReentrantDoubleClaimIsRefused() public {
        RunRewardsReentrantClaimer attacker = new RunRewardsReentrantClaimer(_runRewards);
        vm.prank(address(_timelock));
        _registry.setSubmitter(address(attacker), true);
        bytes32 attackData = keccak256("attacker data");
        _recordAttested(address(attacker), attackData, 1_000);
        _owners[3] = address(attacker);
        _data[3] = attackData;
        _fundedRun(1 ether);
        attacker.claim(RUN_ID, attackData, 50, _proofOf(3));
        assertEq(attacker.payments(), 1);
        assertEq(address(attacker).balance, 0.1 ether);
        assertEq(
            attacker.reentryError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(_runRewards.claimed(RUN_ID, attackData), 0.1 ether);
        assertEq(_runRewards.runPool(RUN_ID).paid, 0.1 ether);
    }

    /// @dev A tree whose weights add up to more than its committed total (an operator's mistake or
    /// fraud) pays at most its own run's pool, never another run's money held by the contract.
    function test_InflatedTreeCannotTakeAnotherRunsMoney() public {
        _fundedRun(1 ether);
        bytes32 other = keccak256("run-2");
        uint256[4] memory weights = [uint256(300), 100, 50, 50];
        _commitRun(other, weights, 100); // The leaves add up to 500.
        _runRewards.fundRun{value: 1 ether}(other);
        assertEq(_claimFor(other, 0, weights), 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsNothingToClaim.selector, other, DATA_B));
        _claimFor(other, 1, weights);
        // The first run's money is all there.
        assertEq(address(_runRewards).balance, 1 ether);
        assertEq(_claim(0), 0.6 ether);
    }

    /// @dev Pro-rata arithmetic: whatever the weights and the fundings, each leaf is paid exactly
    /// floor(received * weight / total) over its claims, and the pool never pays out more than it got.
    function testFuzz_ClaimsArePaidProRata(uint256[4] memory weights, uint96[3] memory fundings, uint8 order) public {
        uint256 total = 0;
        for (uint256 i = 0; i < 4; ++i) {
            _weights[i] = _bound(weights[i], 1, type(uint32).max);
            total += _weights[i];
        }
        _commitRun(RUN_ID, _weights, total);
        uint256 received = 0;
        for (uint256 round = 0; round < 3; ++round) {
            uint256 amount = _bound(fundings[round], 1, 1_000_000 ether);
            vm.deal(address(this), amount);
            _runRewards.fundRun{value: amount}(RUN_ID);
            received += amount;
            // Some leaves claim in each round, others wait: the order must not change what they get.
            for (uint256 i = 0; i < 4; ++i) {
                if (round < 2 && (uint256(order) >> (round * 4 + i)) & 1 == 0) continue;
                if (_runRewards.claimable(RUN_ID, _data[i], _weights[i], _proofOf(i)) == 0) continue;
                _paid[i] += _claim(i);
            }
        }
        uint256 paidOut = 0;
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(_paid[i], (received * _weights[i]) / total);
            paidOut += _paid[i];
        }
        assertLte(paidOut, received);
        assertEq(_runRewards.runPool(RUN_ID).paid, paidOut);
        assertEq(address(_runRewards).balance, received - paidOut);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @dev StandardMerkleTree's leaf: the ABI encoding of (dataHash, contributor, weight), hashed twice.
    function _leaf(uint256 i, uint256[4] memory weights) internal view returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(_data[i], _owners[i], weights[i]))));
    }

    /// @dev A four-leaf tree of sorted pairs (as StandardMerkleTree hashes its nodes): ((0, 1), (2, 3)).
    function _root(uint256[4] memory weights) internal view returns (bytes32) {
        return
            Hashes.commutativeKeccak256(
                Hashes.commutativeKeccak256(_leaf(0, weights), _leaf(1, weights)),
                Hashes.commutativeKeccak256(_leaf(2, weights), _leaf(3, weights))
            );
    }

    function _proofFor(uint256 i, uint256[4] memory weights) internal view returns (bytes32[] memory proof) {
        proof = new bytes32[](2);
        uint256 sibling = i ^ 1;
        uint256 otherPair = i < 2 ? 2 : 0;
        proof[0] = _leaf(sibling, weights);
        proof[1] = Hashes.commutativeKeccak256(_leaf(otherPair, weights), _leaf(otherPair + 1, weights));
    }

    function _proofOf(uint256 i) internal view returns (bytes32[] memory) {
        return _proofFor(i, _weights);
    }

    /// @dev Approves `runId` for `_worker`, which commits its model with this tree.
    function _commitRun(bytes32 runId, uint256[4] memory weights, uint256 total) internal returns (bytes32 root) {
        root = _root(weights);
        vm.prank(address(_timelock));
        _registry.approveTrainingRun(runId, keccak256("spec"), _worker, uint64(block.timestamp + 1 days));
        vm.prank(_worker);
        _commitments.commitModel(
            runId,
            keccak256("weights"),
            keccak256("training set"),
            "ipfs://weights",
            IModelCommitments.Contributions(root, total, "ipfs://contributions")
        );
    }

    function _fundedRun(uint256 amount) internal {
        _commitRun(RUN_ID, _weights, TOTAL);
        _runRewards.fundRun{value: amount}(RUN_ID);
    }

    function _claim(uint256 i) internal returns (uint256) {
        return _claimFor(RUN_ID, i, _weights);
    }

    function _claimFor(bytes32 runId, uint256 i, uint256[4] memory weights) internal returns (uint256) {
        return _runRewards.claim(runId, _data[i], weights[i], _proofFor(i, weights));
    }

    receive() external payable {}
}
