// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IMemberRegistry, Roles} from "./interfaces/IMemberRegistry.sol";
import {IReceivables} from "./interfaces/IReceivables.sol";
import {DiscountMath} from "./libraries/DiscountMath.sol";

/// @title Receivables of the scfnet consortium
/// @notice See {IReceivables}. A root's id is the invoice's canonical dedupe key, below 2^255; a split
/// part's id is `keccak256(abi.encode(parentId, index))` with the top bit set. One mapping holds both,
/// so a key is never registered twice, and no registration can take the id a future part needs.
/// @dev Gas: a piece is one storage slot; the document hash lives in the registration event (logs are
/// part of the chain and cheaper than a second slot). Roles come from one registry read per account.
contract Receivables is IReceivables, EIP712, Nonces, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Longest tenor a receivable may have at registration.
    uint40 public constant MAX_TENOR = 366 days;
    /// @notice Parts one split may create.
    uint256 public constant MAX_SPLIT_PARTS = 16;
    /// @notice Splits deep a part may be: bounds the tree an auditor walks.
    uint8 public constant MAX_SPLIT_DEPTH = 8;
    /// @notice Items one register, issue or confirm batch may hold.
    uint256 public constant MAX_BATCH = 256;
    /// @notice Pieces one repayment may pay.
    uint256 public constant MAX_REPAY_BATCH = 128;
    /// @notice Highest annual rate a bank may quote: 100 %.
    uint32 public constant MAX_RATE_PPM = 1_000_000;
    /// @notice Longest grace period the operator may set.
    uint40 public constant MAX_GRACE_PERIOD = 90 days;
    /// @notice Longest default period the operator may set.
    uint40 public constant MAX_DEFAULT_PERIOD = 366 days;

    /// @dev The debtor signs the amount and due date, not only the id, so it confirms exactly what it owes.
    bytes32 private constant _CONFIRMATION_TYPEHASH =
        keccak256("Confirmation(uint256 id,uint96 amountMinor,uint40 dueAt,uint256 nonce,uint256 deadline)");

    /// @dev Part ids carry the top bit; root ids (invoice keys) must not.
    uint256 private constant _PART_ID_FLAG = 1 << 255;

    IMemberRegistry private immutable _registry;
    IERC20 private immutable _settlement;

    uint40 private _gracePeriod;
    uint40 private _defaultPeriod;
    mapping(uint256 id => Piece) private _pieces;
    mapping(uint256 id => uint256 rootId) private _rootOf;
    mapping(uint256 id => FinanceRequest) private _requests;
    mapping(uint256 rootId => RootStatus) private _roots;

    constructor(IMemberRegistry registry_, IERC20 settlement_, uint40 gracePeriod_, uint40 defaultPeriod_)
        EIP712("scfnet Receivables", "1")
    {
        _registry = registry_;
        _settlement = settlement_;
        _setTerms(gracePeriod_, defaultPeriod_);
    }

    // ---------------------------------------------------------------- registration

    /// @inheritdoc IReceivables
    function register(uint256 id, uint32 debtorOrg, uint96 amountMinor, uint40 dueAt, bytes32 documentHash)
        external
    {
        uint32 creditorOrg = _requireRole(Roles.SUPPLIER);
        _checkOrg(debtorOrg, Roles.CORE_FIRM, creditorOrg);
        _create(id, creditorOrg, debtorOrg, amountMinor, dueAt, State.Registered);
        emit ReceivableRegistered(id, creditorOrg, debtorOrg, amountMinor, dueAt, documentHash);
    }

    /// @inheritdoc IReceivables
    function registerBatch(Registration[] calldata items) external {
        uint32 creditorOrg = _requireRole(Roles.SUPPLIER);
        _checkBatch(items.length, MAX_BATCH);
        // Batches usually owe one core firm: ask the registry once per run of the same debtor.
        uint32 checkedDebtor = items[0].debtorOrg;
        _checkOrg(checkedDebtor, Roles.CORE_FIRM, creditorOrg);
        for (uint256 i = 0; i < items.length; ++i) {
            Registration calldata item = items[i];
            if (item.debtorOrg != checkedDebtor) {
                _checkOrg(item.debtorOrg, Roles.CORE_FIRM, creditorOrg);
                checkedDebtor = item.debtorOrg;
            }
            _create(item.id, creditorOrg, item.debtorOrg, item.amountMinor, item.dueAt, State.Registered);
            emit ReceivableRegistered(
                item.id, creditorOrg, item.debtorOrg, item.amountMinor, item.dueAt, item.documentHash
            );
        }
    }

    /// @inheritdoc IReceivables
    function issueBatch(Issuance[] calldata items) external {
        uint32 debtorOrg = _requireRole(Roles.CORE_FIRM);
        _checkBatch(items.length, MAX_BATCH);
        uint32 checkedCreditor = items[0].creditorOrg;
        _checkOrg(checkedCreditor, Roles.SUPPLIER, debtorOrg);
        for (uint256 i = 0; i < items.length; ++i) {
            Issuance calldata item = items[i];
            if (item.creditorOrg != checkedCreditor) {
                _checkOrg(item.creditorOrg, Roles.SUPPLIER, debtorOrg);
                checkedCreditor = item.creditorOrg;
            }
            _create(item.id, item.creditorOrg, debtorOrg, item.amountMinor, item.dueAt, State.Confirmed);
            emit ReceivableRegistered(
                item.id, item.creditorOrg, debtorOrg, item.amountMinor, item.dueAt, item.documentHash
            );
            emit ReceivableConfirmed(item.id, debtorOrg, msg.sender);
        }
    }

    /// @inheritdoc IReceivables
    function cancel(uint256 id) external {
        uint32 org = _requireRole(Roles.SUPPLIER);
        Piece memory p = _existing(id);
        if (p.state != State.Registered) revert ReceivableWrongState(id, p.state);
        if (p.holderOrg != org) revert ReceivableNotHolder(id, org);
        _pieces[id].state = State.Cancelled;
        emit ReceivableCancelled(id, org);
    }

    // ---------------------------------------------------------------- confirmation

    /// @inheritdoc IReceivables
    function confirm(uint256 id) external {
        uint32 org = _requireRole(Roles.CORE_FIRM);
        _confirm(id, org, msg.sender);
    }

    /// @inheritdoc IReceivables
    function confirmBatch(uint256[] calldata ids) external {
        uint32 org = _requireRole(Roles.CORE_FIRM);
        _checkBatch(ids.length, MAX_BATCH);
        for (uint256 i = 0; i < ids.length; ++i) {
            _confirm(ids[i], org, msg.sender);
        }
    }

    /// @inheritdoc IReceivables
    function confirmWithSignature(uint256 id, address signer, uint256 deadline, bytes calldata signature) external {
        _requireRole(0);
        if (block.timestamp > deadline) revert ReceivableSignatureExpired(deadline);
        (uint32 signerOrg, uint16 signerRoles) = _registry.memberOf(signer);
        if (signerRoles & Roles.CORE_FIRM == 0) revert ReceivableInvalidSignature(signer);

        Piece memory p = _existing(id);
        bytes32 digest = _confirmationDigest(id, p.amountMinor, p.dueAt, _useNonce(signer), deadline);
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) {
            revert ReceivableInvalidSignature(signer);
        }
        _confirm(id, signerOrg, signer);
    }

    /// @inheritdoc IReceivables
    function reject(uint256 id, bytes32 reason) external {
        uint32 org = _requireRole(Roles.CORE_FIRM);
        Piece memory p = _existing(id);
        if (p.debtorOrg != org) revert ReceivableNotDebtor(id, org);
        if (p.state != State.Registered) revert ReceivableWrongState(id, p.state);
        _pieces[id].state = State.Rejected;
        emit ReceivableRejected(id, org, reason);
    }

    // ---------------------------------------------------------------- split and transfer

    /// @inheritdoc IReceivables
    function split(uint256 id, uint96[] calldata amountsMinor) external returns (uint256[] memory childIds) {
        uint32 org = _requireRole(Roles.SUPPLIER);
        Piece memory p = _holderPiece(id, org);
        uint256 parts = amountsMinor.length;
        if (parts < 2 || parts > MAX_SPLIT_PARTS) revert ReceivableSplitPartCount(parts);
        if (p.depth >= MAX_SPLIT_DEPTH) revert ReceivableSplitDepthExceeded(id, p.depth);

        uint256 total;
        for (uint256 i = 0; i < parts; ++i) {
            if (amountsMinor[i] == 0) revert ReceivableInvalidAmount(0);
            total += amountsMinor[i];
        }
        if (total != p.amountMinor) revert ReceivableSplitSumMismatch(id, p.amountMinor, total);

        uint256 rootId = _rootOf[id];
        if (rootId == 0) rootId = id;
        _pieces[id].state = State.Split;

        childIds = new uint256[](parts);
        Piece memory child = p;
        child.depth = p.depth + 1;
        for (uint256 i = 0; i < parts; ++i) {
            uint256 childId = uint256(keccak256(abi.encode(id, i))) | _PART_ID_FLAG;
            if (_pieces[childId].state != State.None) revert ReceivableAlreadyRegistered(childId);
            child.amountMinor = amountsMinor[i];
            _pieces[childId] = child;
            _rootOf[childId] = rootId;
            childIds[i] = childId;
        }
        emit PieceSplit(id, rootId, childIds, amountsMinor);
    }

    /// @inheritdoc IReceivables
    function transfer(uint256 id, uint32 toOrg) external {
        uint32 org = _requireRole(Roles.SUPPLIER);
        _holderPiece(id, org);
        _checkOrg(toOrg, Roles.SUPPLIER, org);
        _pieces[id].holderOrg = toOrg;
        emit PieceTransferred(id, org, toOrg);
    }

    // ---------------------------------------------------------------- financing

    /// @inheritdoc IReceivables
    function requestFinancing(uint256 id, uint32 bankOrg, uint32 maxRatePpm, uint40 expiresAt) external {
        uint32 org = _requireRole(Roles.SUPPLIER);
        Piece memory p = _holderPiece(id, org);
        if (bankOrg != 0) _checkOrg(bankOrg, Roles.BANK, org);
        if (maxRatePpm == 0 || maxRatePpm > MAX_RATE_PPM) revert ReceivableInvalidRate(maxRatePpm);
        if (expiresAt <= block.timestamp || expiresAt > p.dueAt) revert ReceivableInvalidExpiry(expiresAt);
        if (DiscountMath.discountDays(block.timestamp, p.dueAt) == 0) revert ReceivableMatured(id, p.dueAt);

        p.lock = Lock.FinanceRequested;
        p.lockOrg = bankOrg;
        _pieces[id] = p;
        _requests[id] = FinanceRequest({maxRatePpm: maxRatePpm, expiresAt: expiresAt});
        emit FinancingRequested(id, org, bankOrg, maxRatePpm, expiresAt);
    }

    /// @inheritdoc IReceivables
    function cancelFinancingRequest(uint256 id) external {
        uint32 org = _requireRole(Roles.SUPPLIER);
        Piece memory p = _existing(id);
        if (p.holderOrg != org) revert ReceivableNotHolder(id, org);
        if (p.lock != Lock.FinanceRequested) revert ReceivableNoFinanceRequest(id);
        p.lock = Lock.None;
        p.lockOrg = 0;
        _pieces[id] = p;
        delete _requests[id];
        emit FinancingRequestCancelled(id, org);
    }

    /// @inheritdoc IReceivables
    function fund(uint256 id, uint32 ratePpm) external nonReentrant returns (uint96 priceMinor) {
        uint32 bankOrg = _requireRole(Roles.BANK);
        Piece memory p = _existing(id);
        if (p.state != State.Confirmed) revert ReceivableWrongState(id, p.state);
        if (p.lock != Lock.FinanceRequested) {
            if (p.lock == Lock.None) revert ReceivableNoFinanceRequest(id);
            _revertLocked(id, p);
        }
        if (p.lockOrg != 0 && p.lockOrg != bankOrg) revert ReceivableRequestNotForBank(id, bankOrg);
        if (p.holderOrg == bankOrg) revert ReceivableInvalidCounterparty(bankOrg);
        FinanceRequest memory request = _requests[id];
        if (block.timestamp >= request.expiresAt) revert ReceivableRequestExpired(id, request.expiresAt);
        if (ratePpm > request.maxRatePpm) revert ReceivableRateAboveMaximum(id, ratePpm, request.maxRatePpm);

        uint96 discountMinor;
        uint32 days_;
        (priceMinor, discountMinor, days_) = _quote(id, p, ratePpm, block.timestamp);
        uint32 sellerOrg = p.holderOrg;
        (uint16 sellerRoles, address sellerPayout) = _registry.orgStatus(sellerOrg);
        if (sellerRoles == 0) revert ReceivableInvalidCounterparty(sellerOrg);

        p.holderOrg = bankOrg;
        p.lock = Lock.Financed;
        p.lockOrg = bankOrg;
        _pieces[id] = p;
        delete _requests[id];
        emit PieceFinanced(id, bankOrg, sellerOrg, ratePpm, days_, priceMinor, discountMinor);

        _settlement.safeTransferFrom(msg.sender, sellerPayout, priceMinor);
    }

    // ---------------------------------------------------------------- pledge

    /// @inheritdoc IReceivables
    function pledge(uint256 id, uint32 bankOrg) external {
        uint32 org = _requireRole(Roles.SUPPLIER);
        Piece memory p = _holderPiece(id, org);
        _checkOrg(bankOrg, Roles.BANK, org);
        p.lock = Lock.Pledged;
        p.lockOrg = bankOrg;
        _pieces[id] = p;
        emit PiecePledged(id, org, bankOrg);
    }

    /// @inheritdoc IReceivables
    function releasePledge(uint256 id) external {
        uint32 org = _requireRole(Roles.BANK);
        Piece memory p = _existing(id);
        if (p.lock != Lock.Pledged || p.lockOrg != org) revert ReceivableNotPledgee(id, org);
        p.lock = Lock.None;
        p.lockOrg = 0;
        _pieces[id] = p;
        emit PledgeReleased(id, org);
    }

    // ---------------------------------------------------------------- repayment

    /// @inheritdoc IReceivables
    function repay(uint256[] calldata ids) external nonReentrant {
        uint32 debtorOrg = _requireRole(Roles.CORE_FIRM);
        _checkBatch(ids.length, MAX_REPAY_BATCH);
        for (uint256 i = 0; i < ids.length; ++i) {
            _repayOne(ids[i], debtorOrg);
        }
    }

    /// @inheritdoc IReceivables
    function markOverdue(uint256 rootId) external {
        _requireRole(0);
        (RootStatus storage status, uint96 outstandingMinor, uint40 dueAt) = _unsettledRoot(rootId);
        if (status.standing != Standing.Current) revert ReceivableWrongStanding(rootId, status.standing);
        uint256 allowedAt = uint256(dueAt) + _gracePeriod;
        if (block.timestamp < allowedAt) revert ReceivableTooEarly(rootId, allowedAt);
        status.standing = Standing.Overdue;
        emit ReceivableOverdue(rootId, outstandingMinor);
    }

    /// @inheritdoc IReceivables
    function markDefaulted(uint256 rootId) external {
        _requireRole(0);
        (RootStatus storage status, uint96 outstandingMinor, uint40 dueAt) = _unsettledRoot(rootId);
        if (status.standing != Standing.Overdue) revert ReceivableWrongStanding(rootId, status.standing);
        uint256 allowedAt = uint256(dueAt) + _gracePeriod + _defaultPeriod;
        if (block.timestamp < allowedAt) revert ReceivableTooEarly(rootId, allowedAt);
        status.standing = Standing.Defaulted;
        emit ReceivableDefaulted(rootId, outstandingMinor);
    }

    /// @inheritdoc IReceivables
    function setTerms(uint40 gracePeriod, uint40 defaultPeriod) external {
        _requireRole(Roles.OPERATOR);
        _setTerms(gracePeriod, defaultPeriod);
    }

    // ---------------------------------------------------------------- views

    /// @notice The member registry this contract asks.
    function registry() external view returns (IMemberRegistry) {
        return _registry;
    }

    /// @notice The settlement token financing and repayment move.
    function settlementToken() external view returns (IERC20) {
        return _settlement;
    }

    /// @inheritdoc IReceivables
    function piece(uint256 id) external view returns (Piece memory) {
        return _pieces[id];
    }

    /// @inheritdoc IReceivables
    function rootOf(uint256 id) external view returns (uint256) {
        _existing(id);
        uint256 rootId = _rootOf[id];
        return rootId == 0 ? id : rootId;
    }

    /// @inheritdoc IReceivables
    function financeRequest(uint256 id) external view returns (FinanceRequest memory) {
        return _requests[id];
    }

    /// @inheritdoc IReceivables
    function rootStatus(uint256 rootId) external view returns (RootStatus memory status) {
        status = _roots[rootId];
        // An unsplit root is repaid in one payment that needs no counter: derive it.
        Piece memory root = _pieces[rootId];
        if (root.state == State.Settled && _rootOf[rootId] == 0) status.repaidMinor = root.amountMinor;
    }

    /// @inheritdoc IReceivables
    function quote(uint256 id, uint32 ratePpm, uint256 at)
        external
        view
        returns (uint96 priceMinor, uint96 discountMinor, uint32 discountDays)
    {
        return _quote(id, _existing(id), ratePpm, at);
    }

    /// @inheritdoc IReceivables
    function terms() external view returns (uint40 gracePeriod, uint40 defaultPeriod) {
        return (_gracePeriod, _defaultPeriod);
    }

    /// @inheritdoc IReceivables
    function confirmationDigest(uint256 id, uint256 nonce, uint256 deadline) external view returns (bytes32) {
        Piece memory p = _existing(id);
        return _confirmationDigest(id, p.amountMinor, p.dueAt, nonce, deadline);
    }

    // ---------------------------------------------------------------- internals

    function _create(uint256 id, uint32 creditorOrg, uint32 debtorOrg, uint96 amountMinor, uint40 dueAt, State state)
        private
    {
        if (id == 0 || id & _PART_ID_FLAG != 0) revert ReceivableInvalidId();
        if (_pieces[id].state != State.None) revert ReceivableAlreadyRegistered(id);
        if (amountMinor == 0) revert ReceivableInvalidAmount(0);
        if (dueAt <= block.timestamp || dueAt > block.timestamp + MAX_TENOR) revert ReceivableInvalidDueDate(dueAt);
        _pieces[id] = Piece({
            holderOrg: creditorOrg,
            debtorOrg: debtorOrg,
            amountMinor: amountMinor,
            dueAt: dueAt,
            state: state,
            lock: Lock.None,
            depth: 0,
            lockOrg: 0
        });
    }

    function _confirm(uint256 id, uint32 debtorOrg, address by) private {
        Piece memory p = _existing(id);
        if (p.debtorOrg != debtorOrg) revert ReceivableNotDebtor(id, debtorOrg);
        if (p.state != State.Registered) revert ReceivableWrongState(id, p.state);
        if (DiscountMath.discountDays(block.timestamp, p.dueAt) == 0) revert ReceivableMatured(id, p.dueAt);
        _pieces[id].state = State.Confirmed;
        emit ReceivableConfirmed(id, debtorOrg, by);
    }

    function _repayOne(uint256 id, uint32 debtorOrg) private {
        Piece memory p = _existing(id);
        if (p.debtorOrg != debtorOrg) revert ReceivableNotDebtor(id, debtorOrg);
        if (p.state != State.Confirmed) revert ReceivableWrongState(id, p.state);

        // A pledged piece pays its pledgee: that is the bank's security.
        uint32 payeeOrg = p.lock == Lock.Pledged ? p.lockOrg : p.holderOrg;
        if (p.lock == Lock.FinanceRequested) delete _requests[id];
        p.state = State.Settled;
        p.lock = Lock.None;
        p.lockOrg = 0;
        _pieces[id] = p;

        uint256 rootId = _rootOf[id];
        emit PieceRepaid(id, rootId == 0 ? id : rootId, payeeOrg, p.amountMinor);
        if (rootId == 0) {
            emit ReceivableSettled(id);
        } else {
            RootStatus storage status = _roots[rootId];
            uint96 repaid = status.repaidMinor + p.amountMinor;
            status.repaidMinor = repaid;
            if (repaid == _pieces[rootId].amountMinor) emit ReceivableSettled(rootId);
        }

        (, address payout) = _registry.orgStatus(payeeOrg);
        _settlement.safeTransferFrom(msg.sender, payout, p.amountMinor);
    }

    function _unsettledRoot(uint256 rootId)
        private
        view
        returns (RootStatus storage status, uint96 outstandingMinor, uint40 dueAt)
    {
        Piece memory root = _existing(rootId);
        if (_rootOf[rootId] != 0) revert ReceivableNotRoot(rootId);
        status = _roots[rootId];
        if (root.state == State.Confirmed) {
            outstandingMinor = root.amountMinor;
        } else if (root.state == State.Split && status.repaidMinor < root.amountMinor) {
            outstandingMinor = root.amountMinor - status.repaidMinor;
        } else if (root.state == State.Settled || root.state == State.Split) {
            revert ReceivableAlreadySettled(rootId);
        } else {
            revert ReceivableWrongState(rootId, root.state);
        }
        dueAt = root.dueAt;
    }

    function _quote(uint256 id, Piece memory p, uint32 ratePpm, uint256 at)
        private
        pure
        returns (uint96 priceMinor, uint96 discountMinor, uint32 discountDays)
    {
        if (ratePpm == 0 || ratePpm > MAX_RATE_PPM) revert ReceivableInvalidRate(ratePpm);
        uint256 days_ = DiscountMath.discountDays(at, p.dueAt);
        if (days_ == 0) revert ReceivableMatured(id, p.dueAt);
        uint256 discount = DiscountMath.discount(p.amountMinor, ratePpm, days_);
        if (discount >= p.amountMinor) revert ReceivableInvalidRate(ratePpm);
        // Casts are safe: discount < amount < 2^96 and days < MAX_TENOR / 1 days + 1.
        discountMinor = uint96(discount);
        priceMinor = p.amountMinor - discountMinor;
        discountDays = uint32(days_);
    }

    function _confirmationDigest(uint256 id, uint96 amountMinor, uint40 dueAt, uint256 nonce, uint256 deadline)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(_CONFIRMATION_TYPEHASH, id, amountMinor, dueAt, nonce, deadline)));
    }

    function _holderPiece(uint256 id, uint32 org) private view returns (Piece memory p) {
        p = _existing(id);
        if (p.state != State.Confirmed) revert ReceivableWrongState(id, p.state);
        if (p.holderOrg != org) revert ReceivableNotHolder(id, org);
        if (p.lock != Lock.None) _revertLocked(id, p);
    }

    function _existing(uint256 id) private view returns (Piece memory p) {
        p = _pieces[id];
        if (p.state == State.None) revert ReceivableNotFound(id);
    }

    function _revertLocked(uint256 id, Piece memory p) private pure {
        if (p.lock == Lock.Financed) revert ReceivableAlreadyFinanced(id, p.lockOrg);
        if (p.lock == Lock.Pledged) revert ReceivablePledged(id, p.lockOrg);
        revert ReceivableFinancingPending(id, p.lockOrg);
    }

    /// @dev Returns the caller's organisation; `role` 0 asks only that the caller can act.
    function _requireRole(uint16 role) private view returns (uint32 orgId) {
        uint16 roles;
        (orgId, roles) = _registry.memberOf(msg.sender);
        if (roles == 0 || roles & role != role) revert ReceivableUnauthorized(msg.sender, role);
    }

    /// @dev A counterparty must be active, hold `role`, and not be the caller's own organisation.
    function _checkOrg(uint32 orgId, uint16 role, uint32 callerOrg) private view {
        (uint16 roles,) = _registry.orgStatus(orgId);
        if (orgId == callerOrg || roles & role == 0) revert ReceivableInvalidCounterparty(orgId);
    }

    function _checkBatch(uint256 size, uint256 max) private pure {
        if (size == 0 || size > max) revert ReceivableBatchSize(size, max);
    }

    function _setTerms(uint40 gracePeriod, uint40 defaultPeriod) private {
        if (gracePeriod > MAX_GRACE_PERIOD || defaultPeriod == 0 || defaultPeriod > MAX_DEFAULT_PERIOD) {
            revert ReceivableInvalidTerms(gracePeriod, defaultPeriod);
        }
        _gracePeriod = gracePeriod;
        _defaultPeriod = defaultPeriod;
        emit TermsChanged(gracePeriod, defaultPeriod);
    }
}
