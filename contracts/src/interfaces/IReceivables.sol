// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Receivables: confirmed invoices as splittable, financeable claims on a core firm
/// @notice A supplier registers an invoice under its canonical dedupe key (the piece id); the
/// debtor confirms it; the confirmed piece can be split into parts that sum to it, transferred up
/// the supply chain, financed by a bank in one delivery-versus-payment transaction, or pledged;
/// at maturity the debtor repays every live piece to its holder (or pledgee), in batches.
/// Organisations are identified by their {IMemberRegistry} ids; amounts are minor units (fen).
interface IReceivables {
    /// @notice Lifecycle of a piece. A split piece is consumed: its children carry the value.
    enum State {
        None,
        Registered,
        Confirmed,
        Split,
        Settled,
        Rejected,
        Cancelled
    }

    /// @notice Encumbrance of a confirmed piece; at most one at a time, network-wide.
    enum Lock {
        None,
        FinanceRequested,
        Financed,
        Pledged
    }

    /// @notice Payment standing of a root receivable after its due date.
    enum Standing {
        Current,
        Overdue,
        Defaulted
    }

    /// @notice One piece, packed in one storage slot.
    /// @dev `lockOrg` is the bank a financing request is addressed to (0: the open market), the
    /// bank that funded the piece, or the pledgee.
    struct Piece {
        uint32 holderOrg;
        uint32 debtorOrg;
        uint96 amountMinor;
        uint40 dueAt;
        State state;
        Lock lock;
        uint8 depth;
        uint32 lockOrg;
    }

    /// @notice An invoice registered by its supplier.
    struct Registration {
        uint256 id;
        uint32 debtorOrg;
        uint96 amountMinor;
        uint40 dueAt;
        bytes32 documentHash;
    }

    /// @notice A payable issued, already confirmed, by the core firm to one of its suppliers.
    struct Issuance {
        uint256 id;
        uint32 creditorOrg;
        uint96 amountMinor;
        uint40 dueAt;
        bytes32 documentHash;
    }

    /// @notice An open financing request; its bank is the piece's `lockOrg`.
    struct FinanceRequest {
        uint32 maxRatePpm;
        uint40 expiresAt;
    }

    /// @notice Repayment progress and standing of a root receivable.
    struct RootStatus {
        uint96 repaidMinor;
        Standing standing;
    }

    /// @notice The caller lacks an active account with `requiredRole`.
    error ReceivableUnauthorized(address account, uint16 requiredRole);
    /// @notice Root ids must be non-zero and below 2^255 (ids with the top bit are split parts).
    error ReceivableInvalidId();
    /// @notice A receivable with this id (canonical dedupe key) exists already, anywhere on the network.
    error ReceivableAlreadyRegistered(uint256 id);
    /// @notice No piece has this id.
    error ReceivableNotFound(uint256 id);
    /// @notice The amount must be positive.
    error ReceivableInvalidAmount(uint256 amountMinor);
    /// @notice The due date must lie after now and within `MAX_TENOR`.
    error ReceivableInvalidDueDate(uint40 dueAt);
    /// @notice The organisation cannot take this part: not active, lacks the role, or is the caller's own.
    error ReceivableInvalidCounterparty(uint32 orgId);
    /// @notice The piece is in `state`, which does not allow this action.
    error ReceivableWrongState(uint256 id, State state);
    /// @notice Only the debtor's accounts may do this.
    error ReceivableNotDebtor(uint256 id, uint32 orgId);
    /// @notice Only the holder's accounts may do this.
    error ReceivableNotHolder(uint256 id, uint32 orgId);
    /// @notice The piece has been financed by `bankOrg`; it cannot be financed or moved again.
    error ReceivableAlreadyFinanced(uint256 id, uint32 bankOrg);
    /// @notice The piece is pledged to `bankOrg`; nothing moves until the bank releases it.
    error ReceivablePledged(uint256 id, uint32 bankOrg);
    /// @notice A financing request to `bankOrg` (0: the market) is open; cancel it first.
    error ReceivableFinancingPending(uint256 id, uint32 bankOrg);
    /// @notice The parts of a split must sum exactly to the piece.
    error ReceivableSplitSumMismatch(uint256 id, uint256 expectedMinor, uint256 actualMinor);
    /// @notice A split takes between 2 and `MAX_SPLIT_PARTS` parts.
    error ReceivableSplitPartCount(uint256 count);
    /// @notice Splitting further would exceed `MAX_SPLIT_DEPTH`.
    error ReceivableSplitDepthExceeded(uint256 id, uint8 depth);
    /// @notice A batch must have between 1 and the function's maximum items.
    error ReceivableBatchSize(uint256 size, uint256 max);
    /// @notice The signature's deadline has passed.
    error ReceivableSignatureExpired(uint256 deadline);
    /// @notice `signer` is not an active core-firm account of the debtor, or the signature is not its.
    error ReceivableInvalidSignature(address signer);
    /// @notice The piece is due (no whole day left to maturity): it can no longer be confirmed or financed.
    error ReceivableMatured(uint256 id, uint40 dueAt);
    /// @notice The rate is zero or above `MAX_RATE_PPM`, or leaves nothing to pay.
    error ReceivableInvalidRate(uint32 ratePpm);
    /// @notice The bank's rate is above the holder's maximum.
    error ReceivableRateAboveMaximum(uint256 id, uint32 ratePpm, uint32 maxRatePpm);
    /// @notice The piece has no open financing request.
    error ReceivableNoFinanceRequest(uint256 id);
    /// @notice The financing request expired at `expiresAt`.
    error ReceivableRequestExpired(uint256 id, uint40 expiresAt);
    /// @notice The expiry must lie after now and no later than the due date.
    error ReceivableInvalidExpiry(uint40 expiresAt);
    /// @notice The financing request is addressed to another bank.
    error ReceivableRequestNotForBank(uint256 id, uint32 bankOrg);
    /// @notice Only the pledgee bank may release a pledge.
    error ReceivableNotPledgee(uint256 id, uint32 orgId);
    /// @notice `id` is a split part, not a root receivable.
    error ReceivableNotRoot(uint256 id);
    /// @notice The root receivable is fully repaid.
    error ReceivableAlreadySettled(uint256 rootId);
    /// @notice The root is not in the standing this marking requires.
    error ReceivableWrongStanding(uint256 rootId, Standing standing);
    /// @notice The marking is allowed from `allowedAt` on.
    error ReceivableTooEarly(uint256 rootId, uint256 allowedAt);
    /// @notice Grace or default period out of range.
    error ReceivableInvalidTerms(uint40 gracePeriod, uint40 defaultPeriod);

    /// @notice Emitted when a supplier registers an invoice; `documentHash` anchors its document.
    event ReceivableRegistered(
        uint256 indexed id,
        uint32 indexed creditorOrg,
        uint32 indexed debtorOrg,
        uint96 amountMinor,
        uint40 dueAt,
        bytes32 documentHash
    );
    /// @notice Emitted when the debtor confirms (or issues) a receivable; `by` is the signing account.
    event ReceivableConfirmed(uint256 indexed id, uint32 indexed debtorOrg, address indexed by);
    /// @notice Emitted when the debtor rejects a registered invoice.
    event ReceivableRejected(uint256 indexed id, uint32 indexed debtorOrg, bytes32 reason);
    /// @notice Emitted when the supplier withdraws an unconfirmed invoice.
    event ReceivableCancelled(uint256 indexed id, uint32 indexed creditorOrg);
    /// @notice Emitted when a piece is split; the parent is consumed.
    event PieceSplit(uint256 indexed parentId, uint256 indexed rootId, uint256[] childIds, uint96[] amountsMinor);
    /// @notice Emitted when a piece changes hands by transfer.
    event PieceTransferred(uint256 indexed id, uint32 indexed fromOrg, uint32 indexed toOrg);
    /// @notice Emitted when a holder asks `bankOrg` (0: the market) to finance a piece.
    event FinancingRequested(
        uint256 indexed id, uint32 indexed holderOrg, uint32 indexed bankOrg, uint32 maxRatePpm, uint40 expiresAt
    );
    /// @notice Emitted when the holder withdraws its financing request.
    event FinancingRequestCancelled(uint256 indexed id, uint32 indexed holderOrg);
    /// @notice Emitted when a bank funds a piece: it paid `priceMinor` to the seller and holds the piece.
    event PieceFinanced(
        uint256 indexed id,
        uint32 indexed bankOrg,
        uint32 indexed sellerOrg,
        uint32 ratePpm,
        uint32 discountDays,
        uint96 priceMinor,
        uint96 discountMinor
    );
    /// @notice Emitted when a holder pledges a piece to a bank.
    event PiecePledged(uint256 indexed id, uint32 indexed holderOrg, uint32 indexed bankOrg);
    /// @notice Emitted when the pledgee bank releases a pledge.
    event PledgeReleased(uint256 indexed id, uint32 indexed bankOrg);
    /// @notice Emitted when the debtor pays a piece's face value to `payeeOrg`.
    event PieceRepaid(uint256 indexed id, uint256 indexed rootId, uint32 indexed payeeOrg, uint96 amountMinor);
    /// @notice Emitted when every piece of a root receivable has been repaid.
    event ReceivableSettled(uint256 indexed rootId);
    /// @notice Emitted when a root receivable is marked overdue (past due plus grace, not fully repaid).
    event ReceivableOverdue(uint256 indexed rootId, uint96 outstandingMinor);
    /// @notice Emitted when an overdue root receivable is marked defaulted.
    event ReceivableDefaulted(uint256 indexed rootId, uint96 outstandingMinor);
    /// @notice Emitted when the operator changes the grace and default periods.
    event TermsChanged(uint40 gracePeriod, uint40 defaultPeriod);

    /// @notice Register an invoice owed by `debtorOrg` under its canonical dedupe key `id`. Supplier only.
    function register(uint256 id, uint32 debtorOrg, uint96 amountMinor, uint40 dueAt, bytes32 documentHash) external;

    /// @notice Register many invoices in one transaction. Supplier only.
    function registerBatch(Registration[] calldata items) external;

    /// @notice Issue confirmed receivables owed by the caller to its suppliers. Core firm only.
    function issueBatch(Issuance[] calldata items) external;

    /// @notice Withdraw an unconfirmed invoice; its key stays used. Its supplier only.
    function cancel(uint256 id) external;

    /// @notice Confirm an invoice the caller's organisation owes. Debtor (core firm) only.
    function confirm(uint256 id) external;

    /// @notice Confirm many invoices the caller's organisation owes. Debtor (core firm) only.
    function confirmBatch(uint256[] calldata ids) external;

    /// @notice Confirm with the debtor's EIP-712 signature, relayed by any active member.
    function confirmWithSignature(uint256 id, address signer, uint256 deadline, bytes calldata signature) external;

    /// @notice Reject an invoice the caller's organisation does not owe. Debtor (core firm) only.
    function reject(uint256 id, bytes32 reason) external;

    /// @notice Split a piece into parts that sum exactly to it. Holder (supplier) only.
    function split(uint256 id, uint96[] calldata amountsMinor) external returns (uint256[] memory childIds);

    /// @notice Transfer a piece to supplier organisation `toOrg`. Holder (supplier) only.
    function transfer(uint256 id, uint32 toOrg) external;

    /// @notice Ask `bankOrg` (0: any bank) to finance a piece at no more than `maxRatePpm` a year.
    function requestFinancing(uint256 id, uint32 bankOrg, uint32 maxRatePpm, uint40 expiresAt) external;

    /// @notice Withdraw an open financing request. Holder only.
    function cancelFinancingRequest(uint256 id) external;

    /// @notice Fund a requested piece at `ratePpm` a year: pay the discounted price, take the piece.
    /// @dev Delivery versus payment: the settlement transfer and the change of holder are one transaction.
    function fund(uint256 id, uint32 ratePpm) external returns (uint96 priceMinor);

    /// @notice Pledge a piece to bank `bankOrg` as collateral. Holder (supplier) only.
    function pledge(uint256 id, uint32 bankOrg) external;

    /// @notice Release a pledge. Pledgee bank only.
    function releasePledge(uint256 id) external;

    /// @notice Pay the face value of each live piece in `ids` to its holder (or pledgee). Debtor only.
    function repay(uint256[] calldata ids) external;

    /// @notice Mark a root receivable overdue once its due date plus the grace period has passed unpaid.
    function markOverdue(uint256 rootId) external;

    /// @notice Mark an overdue root receivable defaulted once the default period has also passed.
    function markDefaulted(uint256 rootId) external;

    /// @notice Set the grace and default periods, in seconds. Operator only.
    function setTerms(uint40 gracePeriod, uint40 defaultPeriod) external;

    /// @notice The piece `id`.
    function piece(uint256 id) external view returns (Piece memory);

    /// @notice The root receivable of `id` (itself for a root).
    function rootOf(uint256 id) external view returns (uint256);

    /// @notice The open financing request on `id`, zero if none.
    function financeRequest(uint256 id) external view returns (FinanceRequest memory);

    /// @notice Repayment progress and standing of root receivable `rootId`.
    function rootStatus(uint256 rootId) external view returns (RootStatus memory);

    /// @notice Price, discount and discount days of financing `id` at `ratePpm` at time `at`.
    function quote(uint256 id, uint32 ratePpm, uint256 at)
        external
        view
        returns (uint96 priceMinor, uint96 discountMinor, uint32 discountDays);

    /// @notice The grace and default periods, in seconds.
    function terms() external view returns (uint40 gracePeriod, uint40 defaultPeriod);

    /// @notice The EIP-712 digest a debtor signs to confirm `id` with `nonce` until `deadline`.
    function confirmationDigest(uint256 id, uint256 nonce, uint256 deadline) external view returns (bytes32);
}
