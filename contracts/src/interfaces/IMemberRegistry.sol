// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Roles of the scfnet consortium, as bits of an organisation's role set.
library Roles {
    uint16 internal constant CORE_FIRM = 1 << 0;
    uint16 internal constant SUPPLIER = 1 << 1;
    uint16 internal constant BANK = 1 << 2;
    uint16 internal constant WAREHOUSE = 1 << 3;
    uint16 internal constant AUDITOR = 1 << 4;
    uint16 internal constant ORACLE = 1 << 5;
    uint16 internal constant OPERATOR = 1 << 6;
    uint16 internal constant ALL = (1 << 7) - 1;
}

/// @title Member registry: organisations, their roles and their accounts
/// @notice Every other scfnet contract asks this registry who may act. An organisation holds a
/// set of roles and up to `MAX_ACCOUNTS_PER_ORG` accounts (signing keys); suspending the
/// organisation or one account stops it at once in every contract.
/// @dev The hot-path read `memberOf` is one storage slot: each account caches its organisation's
/// roles and suspension flag, rewritten (bounded loop) when the organisation changes.
interface IMemberRegistry {
    /// @notice An organisation as stored. `creditCode` is the 18-character unified social credit code.
    struct Organisation {
        bytes32 creditCode;
        address payoutAccount;
        uint16 roles;
        bool suspended;
        uint8 accountCount;
    }

    /// @notice The caller lacks an active account with `requiredRole`.
    error MemberRegistryUnauthorized(address account, uint16 requiredRole);
    /// @notice No organisation has id `orgId`.
    error MemberRegistryUnknownOrganisation(uint32 orgId);
    /// @notice `account` belongs to no organisation.
    error MemberRegistryUnknownAccount(address account);
    /// @notice `account` already belongs to organisation `orgId`.
    error MemberRegistryAccountTaken(address account, uint32 orgId);
    /// @notice A credit code may be admitted once.
    error MemberRegistryCreditCodeTaken(bytes32 creditCode, uint32 orgId);
    /// @notice `roles` is empty or has bits outside the known roles.
    error MemberRegistryInvalidRoles(uint16 roles);
    /// @notice The organisation already has the maximum number of accounts.
    error MemberRegistryTooManyAccounts(uint32 orgId);
    /// @notice The zero address or an empty credit code was given.
    error MemberRegistryInvalidInput();
    /// @notice The payout account must stay an account of its organisation.
    error MemberRegistryPayoutAccount(address account);
    /// @notice An operator may not suspend, strip or remove its own organisation or account.
    error MemberRegistrySelfLockout(address account);

    /// @notice Emitted when the operator admits an organisation.
    event OrganisationAdmitted(
        uint32 indexed orgId, bytes32 indexed creditCode, uint16 roles, address payoutAccount, string name
    );
    /// @notice Emitted when an organisation's role set changes.
    event OrganisationRolesChanged(uint32 indexed orgId, uint16 roles);
    /// @notice Emitted when an organisation is suspended.
    event OrganisationSuspended(uint32 indexed orgId);
    /// @notice Emitted when a suspended organisation is reinstated.
    event OrganisationReinstated(uint32 indexed orgId);
    /// @notice Emitted when an account is added to an organisation.
    event AccountAdded(uint32 indexed orgId, address indexed account);
    /// @notice Emitted when an account is removed from its organisation.
    event AccountRemoved(uint32 indexed orgId, address indexed account);
    /// @notice Emitted when a single account is suspended.
    event AccountSuspended(uint32 indexed orgId, address indexed account);
    /// @notice Emitted when a single account is reinstated.
    event AccountReinstated(uint32 indexed orgId, address indexed account);
    /// @notice Emitted when an organisation's payout account changes.
    event PayoutAccountChanged(uint32 indexed orgId, address indexed account);

    /// @notice Admit an organisation with `roles`; `payoutAccount` becomes its first account.
    /// @dev Operator only.
    function admitOrganisation(bytes32 creditCode, string calldata name, uint16 roles, address payoutAccount)
        external
        returns (uint32 orgId);

    /// @notice Replace an organisation's role set. Operator only.
    function setRoles(uint32 orgId, uint16 roles) external;

    /// @notice Suspend an organisation: none of its accounts can act. Operator only.
    function suspendOrganisation(uint32 orgId) external;

    /// @notice Lift an organisation's suspension. Operator only.
    function reinstateOrganisation(uint32 orgId) external;

    /// @notice Add a signing account to an organisation. Operator only.
    function addAccount(uint32 orgId, address account) external;

    /// @notice Remove an account (not the payout account) from its organisation. Operator only.
    function removeAccount(address account) external;

    /// @notice Suspend one account, e.g. a compromised key. Operator only.
    function suspendAccount(address account) external;

    /// @notice Reinstate one suspended account. Operator only.
    function reinstateAccount(address account) external;

    /// @notice Make `account` (already the organisation's) receive its settlement payments. Operator only.
    function setPayoutAccount(uint32 orgId, address account) external;

    /// @notice The organisation of `account` and its roles; roles are 0 unless the account can act.
    function memberOf(address account) external view returns (uint32 orgId, uint16 activeRoles);

    /// @notice Whether `account` is an admitted, unsuspended account of an unsuspended organisation.
    function isActive(address account) external view returns (bool);

    /// @notice An organisation's roles (0 while suspended) and payout account, in one read.
    function orgStatus(uint32 orgId) external view returns (uint16 activeRoles, address payoutAccount);

    /// @notice The stored record of organisation `orgId`.
    function organisation(uint32 orgId) external view returns (Organisation memory);

    /// @notice The accounts of organisation `orgId`.
    function accountsOf(uint32 orgId) external view returns (address[] memory);

    /// @notice The id of the organisation with `creditCode`, or 0.
    function orgIdOf(bytes32 creditCode) external view returns (uint32);

    /// @notice Number of organisations admitted so far; ids run from 1 to this number.
    function organisationCount() external view returns (uint32);
}
