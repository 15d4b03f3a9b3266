// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {IMemberRegistry, Roles} from "./interfaces/IMemberRegistry.sol";
import {IGoodsOracle, IGoodsStatusListener} from "./interfaces/IGoodsOracle.sol";

/// @title Goods oracle of the scfnet consortium
/// @notice See {IGoodsOracle}. Leaves of a readings tree are
/// `keccak256(bytes.concat(keccak256(abi.encode(deviceId, seq, payloadHash))))` (OpenZeppelin's
/// standard Merkle tree leaf), sorted-pair hashing as `MerkleProof` expects.
contract GoodsOracle is IGoodsOracle, EIP712 {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Signers the set may hold.
    uint256 public constant MAX_SIGNERS = 32;
    /// @notice How far in the future an observation time may lie (clock skew between nodes).
    uint40 public constant MAX_CLOCK_SKEW = 60;
    /// @notice Bounds for the operator's maximum report age.
    uint40 public constant MIN_REPORT_AGE = 10;
    uint40 public constant MAX_REPORT_AGE = 1 days;

    bytes32 private constant _REPORT_TYPEHASH = keccak256(
        "Report(bytes32 lotId,uint64 round,uint8 status,bytes32 readingsRoot,uint32 readingCount,uint40 observedAt)"
    );

    IMemberRegistry private immutable _registry;

    EnumerableSet.AddressSet private _signers;
    uint8 private _faultTolerance;
    uint40 private _maxReportAge;
    address private _listener;
    mapping(bytes32 lotId => LotStatus) private _lots;
    mapping(bytes32 lotId => mapping(uint64 round => bytes32 root)) private _roots;

    constructor(IMemberRegistry registry_, uint40 maxReportAge_) EIP712("scfnet GoodsOracle", "1") {
        _registry = registry_;
        _faultTolerance = 1;
        _setMaxReportAge(maxReportAge_);
    }

    /// @inheritdoc IGoodsOracle
    function submitReport(Report calldata report, bytes[] calldata signatures) external {
        _requireRole(Roles.ORACLE);
        bool offline = report.status == Status.OFFLINE;
        if (
            report.status == Status.Unknown
                || (!offline && (report.readingsRoot == bytes32(0) || report.readingCount == 0))
                || ((report.readingsRoot == bytes32(0)) != (report.readingCount == 0))
        ) revert GoodsOracleInvalidReport(report.lotId);

        LotStatus memory last = _lots[report.lotId];
        if (report.round <= last.round) revert GoodsOracleStaleRound(report.lotId, report.round, last.round);
        if (
            uint256(report.observedAt) + _maxReportAge < block.timestamp
                || report.observedAt > block.timestamp + MAX_CLOCK_SKEW || report.observedAt < last.observedAt
        ) revert GoodsOracleStaleReport(report.lotId, report.observedAt, block.timestamp);

        address[] memory signed = _checkSignatures(_reportDigest(report), signatures);

        _lots[report.lotId] = LotStatus({
            status: report.status,
            round: report.round,
            observedAt: report.observedAt,
            reportedAt: uint40(block.timestamp)
        });
        if (report.readingsRoot != bytes32(0)) _roots[report.lotId][report.round] = report.readingsRoot;
        emit ReportAccepted(
            report.lotId,
            report.round,
            report.status,
            report.readingsRoot,
            report.readingCount,
            report.observedAt,
            signed
        );

        if (report.status != last.status) {
            emit LotStatusChanged(report.lotId, last.status, report.status);
            address listener = _listener;
            if (listener != address(0)) IGoodsStatusListener(listener).onLotStatus(report.lotId, report.status);
        }
    }

    /// @inheritdoc IGoodsOracle
    function addSigner(address signer) external {
        _requireRole(Roles.OPERATOR);
        if (signer == address(0) || _signers.length() >= MAX_SIGNERS || !_signers.add(signer)) {
            revert GoodsOracleSignerState(signer, _signers.contains(signer));
        }
        emit SignerAdded(signer);
    }

    /// @inheritdoc IGoodsOracle
    function removeSigner(address signer) external {
        _requireRole(Roles.OPERATOR);
        if (!_signers.contains(signer)) revert GoodsOracleSignerState(signer, false);
        // Keep signers of 2f + 1 distinct organisations so f faulty operators can always be
        // outvoted (a quorum counts organisations, not keys); a compromised key is stopped at once by
        // suspending its account in the registry, then replaced (add first, remove after).
        uint256 f = _faultTolerance;
        uint256 organisations = _signingOrganisations(signer);
        if (organisations < 2 * f + 1) revert GoodsOracleTooFewOrganisations(uint8(f), organisations);
        _signers.remove(signer);
        emit SignerRemoved(signer);
    }

    /// @inheritdoc IGoodsOracle
    function setFaultTolerance(uint8 f) external {
        _requireRole(Roles.OPERATOR);
        uint256 needed = 2 * uint256(f) + 1;
        if (f == 0 || _signers.length() < needed) revert GoodsOracleInvalidFaultTolerance(f, _signers.length());
        uint256 organisations = _signingOrganisations(address(0));
        if (organisations < needed) revert GoodsOracleTooFewOrganisations(f, organisations);
        _faultTolerance = f;
        emit FaultToleranceChanged(f);
    }

    /// @inheritdoc IGoodsOracle
    function setMaxReportAge(uint40 maxAge) external {
        _requireRole(Roles.OPERATOR);
        _setMaxReportAge(maxAge);
    }

    /// @inheritdoc IGoodsOracle
    function setListener(address listener) external {
        _requireRole(Roles.OPERATOR);
        if (_listener != address(0) || listener == address(0)) revert GoodsOracleListenerAlreadySet(_listener);
        _listener = listener;
        emit ListenerSet(listener);
    }

    /// @inheritdoc IGoodsOracle
    function lotStatus(bytes32 lotId) external view returns (LotStatus memory) {
        return _lots[lotId];
    }

    /// @inheritdoc IGoodsOracle
    function readingsRoot(bytes32 lotId, uint64 round) external view returns (bytes32) {
        return _roots[lotId][round];
    }

    /// @inheritdoc IGoodsOracle
    function verifyReading(
        bytes32 lotId,
        uint64 round,
        bytes32 deviceId,
        uint64 seq,
        bytes32 payloadHash,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = _roots[lotId][round];
        if (root == bytes32(0)) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(deviceId, seq, payloadHash))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IGoodsOracle
    function reportDigest(Report calldata report) external view returns (bytes32) {
        return _reportDigest(report);
    }

    /// @inheritdoc IGoodsOracle
    function quorum() external view returns (uint256) {
        return uint256(_faultTolerance) + 1;
    }

    /// @inheritdoc IGoodsOracle
    function signers() external view returns (address[] memory) {
        return _signers.values();
    }

    /// @notice Tolerated faulty signers (f), and the maximum report age in seconds.
    function parameters() external view returns (uint8 faultTolerance, uint40 maxReportAge, address listener) {
        return (_faultTolerance, _maxReportAge, _listener);
    }

    function _checkSignatures(bytes32 digest, bytes[] calldata signatures)
        private
        view
        returns (address[] memory signed)
    {
        uint256 f = _faultTolerance;
        uint256 needed = f + 1;
        // A set smaller than 2f + 1 (after removals) cannot outvote f faulty signers: refuse.
        if (_signers.length() < 2 * f + 1) revert GoodsOracleInvalidFaultTolerance(uint8(f), _signers.length());
        if (signatures.length < needed) revert GoodsOracleQuorumNotMet(signatures.length, needed);

        signed = new address[](signatures.length);
        uint32[] memory orgs = new uint32[](signatures.length);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            address signer = ECDSA.recover(digest, signatures[i]);
            if (signer <= previous) revert GoodsOracleSignersNotAscending(signer);
            if (!_signers.contains(signer)) revert GoodsOracleUnknownSigner(signer);
            (uint32 orgId, uint16 roles) = _registry.memberOf(signer);
            if (roles & Roles.ORACLE == 0) revert GoodsOracleUnknownSigner(signer);
            // f + 1 signatures mean f + 1 independent oracle operators, not keys of one.
            for (uint256 j = 0; j < i; ++j) {
                if (orgs[j] == orgId) revert GoodsOracleSameOrganisation(signer, orgId);
            }
            orgs[i] = orgId;
            signed[i] = signer;
            previous = signer;
        }
    }

    /// @dev Distinct organisations among the signers other than `except` whose accounts may sign now
    /// (active ORACLE members). At most MAX_SIGNERS registry reads: operator calls only.
    function _signingOrganisations(address except) private view returns (uint256 count) {
        uint256 n = _signers.length();
        uint32[] memory seen = new uint32[](n);
        for (uint256 i = 0; i < n; ++i) {
            address signer = _signers.at(i);
            if (signer == except) continue;
            (uint32 orgId, uint16 roles) = _registry.memberOf(signer);
            if (orgId == 0 || roles & Roles.ORACLE == 0) continue;
            bool counted = false;
            for (uint256 j = 0; j < count && !counted; ++j) {
                counted = seen[j] == orgId;
            }
            if (!counted) seen[count++] = orgId;
        }
    }

    function _reportDigest(Report calldata report) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    _REPORT_TYPEHASH,
                    report.lotId,
                    report.round,
                    report.status,
                    report.readingsRoot,
                    report.readingCount,
                    report.observedAt
                )
            )
        );
    }

    function _setMaxReportAge(uint40 maxAge) private {
        if (maxAge < MIN_REPORT_AGE || maxAge > MAX_REPORT_AGE) revert GoodsOracleInvalidMaxAge(maxAge);
        _maxReportAge = maxAge;
        emit MaxReportAgeChanged(maxAge);
    }

    function _requireRole(uint16 role) private view {
        (, uint16 roles) = _registry.memberOf(msg.sender);
        if (roles & role == 0) revert GoodsOracleUnauthorized(msg.sender, role);
    }
}
