// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IGoodsOracle, IGoodsStatusListener} from "./IGoodsOracle.sol";

/// @title Warehouse receipts: goods lots watched by sensors, and the receipts that stand for them
/// @notice A warehouse registers a goods lot with the devices (and their signing keys) that watch it
/// and issues one receipt for it to the goods' owner. The owner may transfer it, or pledge it once
/// to a bank while the oracle reports the goods OK or WARNING. While the lot is in ALERT or OFFLINE
/// the receipt is frozen: its owner can neither transfer, surrender nor re-pledge it; the pledgee
/// bank may keep the pledge, release it, or enforce it (take the receipt). A pledge may also be
/// enforced once its term has passed. The receipt id is the lot id.
interface IWarehouseReceipts is IGoodsStatusListener {
    /// @notice Lifecycle of a receipt.
    enum ReceiptState {
        None,
        Issued,
        Pledged,
        Surrendered
    }

    /// @notice A sensor bound to a lot, and the address of the key that signs its readings.
    struct Device {
        bytes32 deviceId;
        address key;
    }

    /// @notice What a warehouse records about a lot; the text goes to the event, its hash to storage.
    struct LotInfo {
        string goods;
        string specification;
        uint96 quantityMilli;
        string unit;
        string location;
    }

    /// @notice A registered lot.
    struct Lot {
        uint32 warehouseOrg;
        uint96 quantityMilli;
        uint8 deviceCount;
        bool receiptIssued;
        bytes32 infoHash;
    }

    /// @notice A receipt, in one slot.
    struct Receipt {
        uint32 ownerOrg;
        uint32 pledgeeOrg;
        ReceiptState state;
        bool frozen;
        uint40 issuedAt;
        uint40 pledgedUntil;
    }

    /// @notice The caller lacks an active account with `requiredRole`.
    error WarehouseUnauthorized(address account, uint16 requiredRole);
    /// @notice No lot has this id.
    error WarehouseUnknownLot(bytes32 lotId);
    /// @notice A lot with this id exists already.
    error WarehouseLotExists(bytes32 lotId);
    /// @notice A lot needs a positive quantity and 1 to `MAX_DEVICES` devices with non-zero ids and keys.
    error WarehouseInvalidLot(bytes32 lotId);
    /// @notice The device is bound to a lot already.
    error WarehouseDeviceTaken(bytes32 deviceId, bytes32 lotId);
    /// @notice Only the warehouse that registered the lot may do this.
    error WarehouseNotKeeper(bytes32 lotId, uint32 orgId);
    /// @notice The lot's receipt has been issued already.
    error WarehouseReceiptExists(bytes32 lotId);
    /// @notice The receipt is in `state`, which does not allow this.
    error WarehouseWrongState(bytes32 receiptId, ReceiptState state);
    /// @notice Only the receipt's owner may do this.
    error WarehouseNotOwner(bytes32 receiptId, uint32 orgId);
    /// @notice The receipt is frozen: the lot's goods are in ALERT or OFFLINE.
    error WarehouseFrozen(bytes32 receiptId);
    /// @notice A pledge needs goods the oracle reports OK or WARNING.
    error WarehouseGoodsNotVerified(bytes32 receiptId, IGoodsOracle.Status status);
    /// @notice Only the pledgee bank may do this.
    error WarehouseNotPledgee(bytes32 receiptId, uint32 orgId);
    /// @notice The organisation cannot take the receipt: inactive, wrong role, or the caller's own.
    error WarehouseInvalidCounterparty(uint32 orgId);
    /// @notice The pledge term must end in the future, within `MAX_PLEDGE_TERM`.
    error WarehouseInvalidTerm(uint40 pledgedUntil);
    /// @notice A pledge can be enforced only while frozen or after its term, from `allowedAt`.
    error WarehouseEnforcementNotAllowed(bytes32 receiptId, uint40 allowedAt);
    /// @notice Only the goods oracle reports status.
    error WarehouseNotOracle(address caller);

    /// @notice Emitted when a warehouse registers a lot.
    event LotRegistered(
        bytes32 indexed lotId,
        uint32 indexed warehouseOrg,
        bytes32 infoHash,
        string goods,
        string specification,
        uint96 quantityMilli,
        string unit,
        string location
    );
    /// @notice Emitted for each device bound to a lot at registration.
    event DeviceBound(bytes32 indexed lotId, bytes32 indexed deviceId, address key);
    /// @notice Emitted when the warehouse issues the lot's receipt to its owner.
    event ReceiptIssued(bytes32 indexed receiptId, uint32 indexed warehouseOrg, uint32 indexed ownerOrg, bytes32 documentHash);
    /// @notice Emitted when a receipt changes owner by transfer.
    event ReceiptTransferred(bytes32 indexed receiptId, uint32 indexed fromOrg, uint32 indexed toOrg);
    /// @notice Emitted when an owner pledges a receipt to a bank until `pledgedUntil`.
    event ReceiptPledged(bytes32 indexed receiptId, uint32 indexed ownerOrg, uint32 indexed bankOrg, uint40 pledgedUntil);
    /// @notice Emitted when the pledgee releases a pledge.
    event ReceiptPledgeReleased(bytes32 indexed receiptId, uint32 indexed bankOrg);
    /// @notice Emitted when the pledgee enforces a pledge and becomes the owner.
    event ReceiptPledgeEnforced(bytes32 indexed receiptId, uint32 indexed bankOrg, uint32 indexed fromOrg);
    /// @notice Emitted when the goods' status freezes a receipt; `pledgeeOrg` is the bank to tell (0: none).
    event ReceiptFrozen(bytes32 indexed receiptId, uint32 indexed pledgeeOrg, IGoodsOracle.Status status);
    /// @notice Emitted when the goods' status lifts a freeze.
    event ReceiptUnfrozen(bytes32 indexed receiptId, uint32 indexed pledgeeOrg, IGoodsOracle.Status status);
    /// @notice Emitted when the owner surrenders a receipt to take the goods out.
    event ReceiptSurrendered(bytes32 indexed receiptId, uint32 indexed ownerOrg);

    /// @notice Register lot `lotId` with its devices. Warehouse only.
    function registerLot(bytes32 lotId, LotInfo calldata info, Device[] calldata devices) external;

    /// @notice Issue the lot's receipt to `ownerOrg`. The lot's warehouse only.
    function issueReceipt(bytes32 lotId, uint32 ownerOrg, bytes32 documentHash) external;

    /// @notice Transfer a receipt to `toOrg`. Owner only; not while pledged or frozen.
    function transfer(bytes32 receiptId, uint32 toOrg) external;

    /// @notice Pledge a receipt to `bankOrg` until `pledgedUntil`. Owner only; once at a time.
    function pledge(bytes32 receiptId, uint32 bankOrg, uint40 pledgedUntil) external;

    /// @notice Release a pledge. Pledgee bank only; allowed while frozen.
    function releasePledge(bytes32 receiptId) external;

    /// @notice Take the receipt: pledgee bank only, while frozen or after the pledge term.
    function enforcePledge(bytes32 receiptId) external;

    /// @notice Surrender the receipt to take the goods out. Owner only; not while pledged or frozen.
    function surrender(bytes32 receiptId) external;

    /// @notice The lot `lotId`.
    function lot(bytes32 lotId) external view returns (Lot memory);

    /// @notice The receipt `receiptId`.
    function receipt(bytes32 receiptId) external view returns (Receipt memory);

    /// @notice The lot a device watches and its signing key's address (zero if unbound).
    function device(bytes32 deviceId) external view returns (bytes32 lotId, address key);

    /// @notice The devices of lot `lotId`.
    function devicesOf(bytes32 lotId) external view returns (bytes32[] memory);
}
