// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Goods oracle: the quorum-signed status of each goods lot, with its readings' Merkle roots
/// @notice Oracle nodes watch a lot's sensor readings and agree, round by round, on its status.
/// A report is accepted only with signatures of `quorum()` (f+1) distinct registered signers
/// (EIP-712, bound to chain id and this contract), for a round above the lot's last one, and
/// observed recently. Each report anchors the Merkle root of the readings it covered, so any
/// single reading can be proved later.
interface IGoodsOracle {
    /// @notice Status of a lot's goods. `Unknown` until the first report.
    enum Status {
        Unknown,
        OK,
        WARNING,
        ALERT,
        OFFLINE
    }

    /// @notice What the oracle nodes sign for one round of one lot.
    struct Report {
        bytes32 lotId;
        uint64 round;
        Status status;
        bytes32 readingsRoot;
        uint32 readingCount;
        uint40 observedAt;
    }

    /// @notice A lot's latest accepted report, in one slot.
    struct LotStatus {
        Status status;
        uint64 round;
        uint40 observedAt;
        uint40 reportedAt;
    }

    /// @notice The caller lacks an active account with `requiredRole`.
    error GoodsOracleUnauthorized(address account, uint16 requiredRole);
    /// @notice Fewer valid signatures than the quorum.
    error GoodsOracleQuorumNotMet(uint256 signatures, uint256 quorum);
    /// @notice `signer` is not a registered, active oracle signer.
    error GoodsOracleUnknownSigner(address signer);
    /// @notice Two signatures came from accounts of the same organisation `orgId`.
    error GoodsOracleSameOrganisation(address signer, uint32 orgId);
    /// @notice Signers must be given in strictly ascending address order (no duplicates).
    error GoodsOracleSignersNotAscending(address signer);
    /// @notice The round must be above the lot's last accepted round.
    error GoodsOracleStaleRound(bytes32 lotId, uint64 round, uint64 lastRound);
    /// @notice The report was observed too long ago, in the future, or before the lot's last report.
    error GoodsOracleStaleReport(bytes32 lotId, uint40 observedAt, uint256 now);
    /// @notice A report must carry a status and a root of at least one reading.
    error GoodsOracleInvalidReport(bytes32 lotId);
    /// @notice The signer is registered already / is not registered.
    error GoodsOracleSignerState(address signer, bool registered);
    /// @notice The fault tolerance does not fit the signer set: need signers >= 2f + 1, f >= 1.
    error GoodsOracleInvalidFaultTolerance(uint8 f, uint256 signers);
    /// @notice The change would leave signers of only `organisations` distinct organisations able to
    /// sign (active ORACLE members), fewer than the 2f + 1 that can outvote `f` faulty ones.
    error GoodsOracleTooFewOrganisations(uint8 f, uint256 organisations);
    /// @notice The listener is set once, to a non-zero address; `listener` is the current one.
    error GoodsOracleListenerAlreadySet(address listener);
    /// @notice Maximum report age out of range.
    error GoodsOracleInvalidMaxAge(uint40 maxAge);

    /// @notice Emitted when a report is accepted, with the signers whose signatures counted.
    event ReportAccepted(
        bytes32 indexed lotId,
        uint64 indexed round,
        Status status,
        bytes32 readingsRoot,
        uint32 readingCount,
        uint40 observedAt,
        address[] signers
    );
    /// @notice Emitted when a lot's status changes.
    event LotStatusChanged(bytes32 indexed lotId, Status previous, Status status);
    /// @notice Emitted when the operator adds an oracle signer.
    event SignerAdded(address indexed signer);
    /// @notice Emitted when the operator removes an oracle signer.
    event SignerRemoved(address indexed signer);
    /// @notice Emitted when the operator sets the tolerated faulty signers (quorum = f + 1).
    event FaultToleranceChanged(uint8 f);
    /// @notice Emitted when the operator sets the maximum age of a report.
    event MaxReportAgeChanged(uint40 maxAge);
    /// @notice Emitted once when the operator wires the receipts contract that reacts to status.
    event ListenerSet(address indexed listener);

    /// @notice Accept `report` signed by `signatures` of distinct signers in ascending address order.
    /// @dev Any active member with the ORACLE role may submit; the signatures carry the authority.
    function submitReport(Report calldata report, bytes[] calldata signatures) external;

    /// @notice Register an oracle signer. Operator only.
    function addSigner(address signer) external;

    /// @notice Remove an oracle signer. Operator only.
    /// @dev The remaining signers must belong to at least 2f + 1 distinct organisations whose accounts
    /// may sign now (active members with the ORACLE role), else `GoodsOracleTooFewOrganisations`:
    /// several keys of one operator count once, as they do in a quorum. To replace an operator's only
    /// key, add the new key first.
    function removeSigner(address signer) external;

    /// @notice Set the number of faulty signers tolerated; reports need f + 1 signatures. Operator only.
    /// @dev Needs f >= 1 and 2f + 1 signers (`GoodsOracleInvalidFaultTolerance`), of 2f + 1 distinct
    /// organisations able to sign (`GoodsOracleTooFewOrganisations`).
    function setFaultTolerance(uint8 f) external;

    /// @notice Set how old (in seconds) a report's observation may be when submitted. Operator only.
    function setMaxReportAge(uint40 maxAge) external;

    /// @notice Wire the contract told of every status change (the warehouse receipts). Operator only, once.
    function setListener(address listener) external;

    /// @notice The latest accepted status of `lotId`.
    function lotStatus(bytes32 lotId) external view returns (LotStatus memory);

    /// @notice The readings root anchored for `lotId` in `round` (zero if none).
    function readingsRoot(bytes32 lotId, uint64 round) external view returns (bytes32);

    /// @notice Whether a reading (device, sequence number, payload hash) is covered by the root of `round`.
    function verifyReading(
        bytes32 lotId,
        uint64 round,
        bytes32 deviceId,
        uint64 seq,
        bytes32 payloadHash,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice The EIP-712 digest oracle signers sign for `report`.
    function reportDigest(Report calldata report) external view returns (bytes32);

    /// @notice Signatures a report needs: f + 1.
    function quorum() external view returns (uint256);

    /// @notice The registered signers.
    function signers() external view returns (address[] memory);
}

/// @title Told by the goods oracle of every status change of a lot
interface IGoodsStatusListener {
    /// @notice React to `lotId` entering `status`; reverts for a lot it does not know.
    function onLotStatus(bytes32 lotId, IGoodsOracle.Status status) external;
}
