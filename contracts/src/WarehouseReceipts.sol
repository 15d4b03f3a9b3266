// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IMemberRegistry, Roles} from "./interfaces/IMemberRegistry.sol";
import {IGoodsOracle, IGoodsStatusListener} from "./interfaces/IGoodsOracle.sol";
import {IWarehouseReceipts} from "./interfaces/IWarehouseReceipts.sol";

/// @title Warehouse receipts of the scfnet consortium
/// @notice See {IWarehouseReceipts}. The goods oracle calls `onLotStatus` in the same transaction
/// that accepts a status change, so a freeze and the event the pledgee sees are never late.
contract WarehouseReceipts is IWarehouseReceipts {
    /// @notice Devices one lot may have.
    uint256 public constant MAX_DEVICES = 16;
    /// @notice Longest pledge term.
    uint40 public constant MAX_PLEDGE_TERM = 366 days;
    /// @dev Organisations that may own goods: suppliers, core firms, and banks after enforcement.
    uint16 private constant _OWNER_ROLES = Roles.SUPPLIER | Roles.CORE_FIRM | Roles.BANK;

    IMemberRegistry private immutable _registry;
    IGoodsOracle private immutable _oracle;

    mapping(bytes32 lotId => Lot) private _lots;
    mapping(bytes32 lotId => bytes32[] deviceIds) private _lotDevices;
    mapping(bytes32 deviceId => Device) private _devices;
    mapping(bytes32 deviceId => bytes32 lotId) private _deviceLot;
    mapping(bytes32 receiptId => Receipt) private _receipts;

    constructor(IMemberRegistry registry_, IGoodsOracle oracle_) {
        _registry = registry_;
        _oracle = oracle_;
    }

    /// @inheritdoc IWarehouseReceipts
    function registerLot(bytes32 lotId, LotInfo calldata info, Device[] calldata devices) external {
        uint32 org = _requireRole(Roles.WAREHOUSE);
        if (_lots[lotId].warehouseOrg != 0) revert WarehouseLotExists(lotId);
        if (lotId == bytes32(0) || info.quantityMilli == 0 || devices.length == 0 || devices.length > MAX_DEVICES) {
            revert WarehouseInvalidLot(lotId);
        }
        bytes32 infoHash = keccak256(
            abi.encode(info.goods, info.specification, info.quantityMilli, info.unit, info.location)
        );
        _lots[lotId] = Lot({
            warehouseOrg: org,
            quantityMilli: info.quantityMilli,
            deviceCount: uint8(devices.length),
            receiptIssued: false,
            infoHash: infoHash
        });
        emit LotRegistered(
            lotId, org, infoHash, info.goods, info.specification, info.quantityMilli, info.unit, info.location
        );
        for (uint256 i = 0; i < devices.length; ++i) {
            Device calldata d = devices[i];
            if (d.deviceId == bytes32(0) || d.key == address(0)) revert WarehouseInvalidLot(lotId);
            bytes32 taken = _deviceLot[d.deviceId];
            if (taken != bytes32(0)) revert WarehouseDeviceTaken(d.deviceId, taken);
            _deviceLot[d.deviceId] = lotId;
            _devices[d.deviceId] = d;
            _lotDevices[lotId].push(d.deviceId);
            emit DeviceBound(lotId, d.deviceId, d.key);
        }
    }

    /// @inheritdoc IWarehouseReceipts
    function issueReceipt(bytes32 lotId, uint32 ownerOrg, bytes32 documentHash) external {
        uint32 org = _requireRole(Roles.WAREHOUSE);
        Lot storage l = _lots[lotId];
        if (l.warehouseOrg == 0) revert WarehouseUnknownLot(lotId);
        if (l.warehouseOrg != org) revert WarehouseNotKeeper(lotId, org);
        if (l.receiptIssued) revert WarehouseReceiptExists(lotId);
        _checkOrg(ownerOrg, _OWNER_ROLES, org);
        l.receiptIssued = true;
        IGoodsOracle.Status status = _oracle.lotStatus(lotId).status;
        bool frozen = _freezes(status);
        _receipts[lotId] = Receipt({
            ownerOrg: ownerOrg,
            pledgeeOrg: 0,
            state: ReceiptState.Issued,
            frozen: frozen,
            issuedAt: uint40(block.timestamp),
            pledgedUntil: 0
        });
        emit ReceiptIssued(lotId, org, ownerOrg, documentHash);
        if (frozen) emit ReceiptFrozen(lotId, 0, status);
    }

    /// @inheritdoc IWarehouseReceipts
    function transfer(bytes32 receiptId, uint32 toOrg) external {
        uint32 org = _requireRole(_OWNER_ROLES);
        Receipt storage r = _ownedFree(receiptId, org);
        _checkOrg(toOrg, _OWNER_ROLES, org);
        r.ownerOrg = toOrg;
        emit ReceiptTransferred(receiptId, org, toOrg);
    }

    /// @inheritdoc IWarehouseReceipts
    function pledge(bytes32 receiptId, uint32 bankOrg, uint40 pledgedUntil) external {
        uint32 org = _requireRole(_OWNER_ROLES);
        Receipt storage r = _ownedFree(receiptId, org);
        _checkOrg(bankOrg, Roles.BANK, org);
        if (pledgedUntil <= block.timestamp || pledgedUntil > block.timestamp + MAX_PLEDGE_TERM) {
            revert WarehouseInvalidTerm(pledgedUntil);
        }
        // Collateral must be watched and healthy right now, not just "not yet in alert".
        IGoodsOracle.Status status = _oracle.lotStatus(receiptId).status;
        if (status != IGoodsOracle.Status.OK && status != IGoodsOracle.Status.WARNING) {
            revert WarehouseGoodsNotVerified(receiptId, status);
        }
        r.state = ReceiptState.Pledged;
        r.pledgeeOrg = bankOrg;
        r.pledgedUntil = pledgedUntil;
        emit ReceiptPledged(receiptId, org, bankOrg, pledgedUntil);
    }

    /// @inheritdoc IWarehouseReceipts
    function releasePledge(bytes32 receiptId) external {
        uint32 org = _requireRole(Roles.BANK);
        Receipt storage r = _pledgedTo(receiptId, org);
        r.state = ReceiptState.Issued;
        r.pledgeeOrg = 0;
        r.pledgedUntil = 0;
        emit ReceiptPledgeReleased(receiptId, org);
    }

    /// @inheritdoc IWarehouseReceipts
    function enforcePledge(bytes32 receiptId) external {
        uint32 org = _requireRole(Roles.BANK);
        Receipt storage r = _pledgedTo(receiptId, org);
        if (!r.frozen && block.timestamp <= r.pledgedUntil) {
            revert WarehouseEnforcementNotAllowed(receiptId, r.pledgedUntil + 1);
        }
        uint32 fromOrg = r.ownerOrg;
        r.ownerOrg = org;
        r.state = ReceiptState.Issued;
        r.pledgeeOrg = 0;
        r.pledgedUntil = 0;
        emit ReceiptPledgeEnforced(receiptId, org, fromOrg);
    }

    /// @inheritdoc IWarehouseReceipts
    function surrender(bytes32 receiptId) external {
        uint32 org = _requireRole(_OWNER_ROLES);
        Receipt storage r = _ownedFree(receiptId, org);
        r.state = ReceiptState.Surrendered;
        emit ReceiptSurrendered(receiptId, org);
    }

    /// @inheritdoc IGoodsStatusListener
    /// @dev Must not revert for a known lot: a revert here would block the oracle's report.
    function onLotStatus(bytes32 lotId, IGoodsOracle.Status status) external {
        if (msg.sender != address(_oracle)) revert WarehouseNotOracle(msg.sender);
        if (_lots[lotId].warehouseOrg == 0) revert WarehouseUnknownLot(lotId);
        Receipt storage r = _receipts[lotId];
        if (r.state == ReceiptState.None || r.state == ReceiptState.Surrendered) return;
        bool freeze = _freezes(status);
        if (freeze == r.frozen) return;
        r.frozen = freeze;
        if (freeze) emit ReceiptFrozen(lotId, r.pledgeeOrg, status);
        else emit ReceiptUnfrozen(lotId, r.pledgeeOrg, status);
    }

    /// @notice The member registry this contract asks.
    function registry() external view returns (IMemberRegistry) {
        return _registry;
    }

    /// @notice The goods oracle whose status freezes receipts.
    function oracle() external view returns (IGoodsOracle) {
        return _oracle;
    }

    /// @inheritdoc IWarehouseReceipts
    function lot(bytes32 lotId) external view returns (Lot memory) {
        return _lots[lotId];
    }

    /// @inheritdoc IWarehouseReceipts
    function receipt(bytes32 receiptId) external view returns (Receipt memory) {
        return _receipts[receiptId];
    }

    /// @inheritdoc IWarehouseReceipts
    function device(bytes32 deviceId) external view returns (bytes32 lotId, address key) {
        return (_deviceLot[deviceId], _devices[deviceId].key);
    }

    /// @inheritdoc IWarehouseReceipts
    function devicesOf(bytes32 lotId) external view returns (bytes32[] memory) {
        return _lotDevices[lotId];
    }

    function _ownedFree(bytes32 receiptId, uint32 org) private view returns (Receipt storage r) {
        r = _receipts[receiptId];
        if (r.state != ReceiptState.Issued) revert WarehouseWrongState(receiptId, r.state);
        if (r.ownerOrg != org) revert WarehouseNotOwner(receiptId, org);
        if (r.frozen) revert WarehouseFrozen(receiptId);
    }

    function _pledgedTo(bytes32 receiptId, uint32 org) private view returns (Receipt storage r) {
        r = _receipts[receiptId];
        if (r.state != ReceiptState.Pledged) revert WarehouseWrongState(receiptId, r.state);
        if (r.pledgeeOrg != org) revert WarehouseNotPledgee(receiptId, org);
    }

    function _freezes(IGoodsOracle.Status status) private pure returns (bool) {
        return status == IGoodsOracle.Status.ALERT || status == IGoodsOracle.Status.OFFLINE;
    }

    /// @dev Returns the caller's organisation; the caller must be active and hold any of `anyRole`.
    function _requireRole(uint16 anyRole) private view returns (uint32 orgId) {
        uint16 roles;
        (orgId, roles) = _registry.memberOf(msg.sender);
        if (roles & anyRole == 0) revert WarehouseUnauthorized(msg.sender, anyRole);
    }

    function _checkOrg(uint32 orgId, uint16 anyRole, uint32 callerOrg) private view {
        (uint16 roles,) = _registry.orgStatus(orgId);
        if (orgId == callerOrg || roles & anyRole == 0) revert WarehouseInvalidCounterparty(orgId);
    }
}
