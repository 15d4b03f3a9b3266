// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IMemberRegistry, Roles} from "./interfaces/IMemberRegistry.sol";

/// @title Member registry of the scfnet consortium
/// @notice See {IMemberRegistry}. The network operator admits organisations and manages their
/// accounts; the deploying operator organisation is admitted at construction (id 1).
contract MemberRegistry is IMemberRegistry {
    /// @notice Accounts (signing keys) an organisation may hold; bounds the sync loop.
    uint8 public constant MAX_ACCOUNTS_PER_ORG = 16;

    /// @dev One slot: the organisation's roles and suspension are cached here so that the check
    /// every other contract makes costs a single storage read.
    struct Account {
        uint32 orgId;
        uint16 orgRoles;
        bool orgSuspended;
        bool suspended;
    }

    uint32 private _organisationCount;
    mapping(uint32 orgId => Organisation) private _organisations;
    mapping(uint32 orgId => address[]) private _orgAccounts;
    mapping(bytes32 creditCode => uint32 orgId) private _orgIdByCreditCode;
    mapping(address account => Account) private _accounts;

    constructor(bytes32 operatorCreditCode, string memory operatorName, address operatorAccount) {
        _admit(operatorCreditCode, operatorName, Roles.OPERATOR, operatorAccount);
    }

    modifier onlyOperator() {
        _checkOperator();
        _;
    }

    /// @inheritdoc IMemberRegistry
    function admitOrganisation(bytes32 creditCode, string calldata name, uint16 roles, address payoutAccount)
        external
        onlyOperator
        returns (uint32 orgId)
    {
        return _admit(creditCode, name, roles, payoutAccount);
    }

    /// @inheritdoc IMemberRegistry
    function setRoles(uint32 orgId, uint16 roles) external onlyOperator {
        Organisation storage org = _organisation(orgId);
        _checkRoles(roles);
        if (orgId == _accounts[msg.sender].orgId && roles & Roles.OPERATOR == 0) {
            revert MemberRegistrySelfLockout(msg.sender);
        }
        org.roles = roles;
        _syncAccounts(orgId, roles, org.suspended);
        emit OrganisationRolesChanged(orgId, roles);
    }

    /// @inheritdoc IMemberRegistry
    function suspendOrganisation(uint32 orgId) external onlyOperator {
        Organisation storage org = _organisation(orgId);
        if (orgId == _accounts[msg.sender].orgId) revert MemberRegistrySelfLockout(msg.sender);
        org.suspended = true;
        _syncAccounts(orgId, org.roles, true);
        emit OrganisationSuspended(orgId);
    }

    /// @inheritdoc IMemberRegistry
    function reinstateOrganisation(uint32 orgId) external onlyOperator {
        Organisation storage org = _organisation(orgId);
        org.suspended = false;
        _syncAccounts(orgId, org.roles, false);
        emit OrganisationReinstated(orgId);
    }

    /// @inheritdoc IMemberRegistry
    function addAccount(uint32 orgId, address account) external onlyOperator {
        Organisation storage org = _organisation(orgId);
        _addAccount(orgId, org, account);
    }

    /// @inheritdoc IMemberRegistry
    function removeAccount(address account) external onlyOperator {
        uint32 orgId = _accountOrg(account);
        if (account == msg.sender) revert MemberRegistrySelfLockout(account);
        Organisation storage org = _organisations[orgId];
        if (org.payoutAccount == account) revert MemberRegistryPayoutAccount(account);

        address[] storage accounts = _orgAccounts[orgId];
        uint256 last = accounts.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (accounts[i] == account) {
                accounts[i] = accounts[last];
                accounts.pop();
                break;
            }
        }
        org.accountCount -= 1;
        delete _accounts[account];
        emit AccountRemoved(orgId, account);
    }

    /// @inheritdoc IMemberRegistry
    function suspendAccount(address account) external onlyOperator {
        uint32 orgId = _accountOrg(account);
        if (account == msg.sender) revert MemberRegistrySelfLockout(account);
        _accounts[account].suspended = true;
        emit AccountSuspended(orgId, account);
    }

    /// @inheritdoc IMemberRegistry
    function reinstateAccount(address account) external onlyOperator {
        uint32 orgId = _accountOrg(account);
        _accounts[account].suspended = false;
        emit AccountReinstated(orgId, account);
    }

    /// @inheritdoc IMemberRegistry
    function setPayoutAccount(uint32 orgId, address account) external onlyOperator {
        Organisation storage org = _organisation(orgId);
        if (_accounts[account].orgId != orgId) revert MemberRegistryPayoutAccount(account);
        org.payoutAccount = account;
        emit PayoutAccountChanged(orgId, account);
    }

    /// @inheritdoc IMemberRegistry
    function memberOf(address account) external view returns (uint32 orgId, uint16 activeRoles) {
        Account memory a = _accounts[account];
        orgId = a.orgId;
        if (!a.suspended && !a.orgSuspended) activeRoles = a.orgRoles;
    }

    /// @inheritdoc IMemberRegistry
    function isActive(address account) external view returns (bool) {
        Account memory a = _accounts[account];
        return a.orgId != 0 && !a.suspended && !a.orgSuspended;
    }

    /// @inheritdoc IMemberRegistry
    function orgStatus(uint32 orgId) external view returns (uint16 activeRoles, address payoutAccount) {
        Organisation storage org = _organisations[orgId];
        payoutAccount = org.payoutAccount;
        if (!org.suspended) activeRoles = org.roles;
    }

    /// @inheritdoc IMemberRegistry
    function organisation(uint32 orgId) external view returns (Organisation memory) {
        return _organisation(orgId);
    }

    /// @inheritdoc IMemberRegistry
    function accountsOf(uint32 orgId) external view returns (address[] memory) {
        _organisation(orgId);
        return _orgAccounts[orgId];
    }

    /// @inheritdoc IMemberRegistry
    function orgIdOf(bytes32 creditCode) external view returns (uint32) {
        return _orgIdByCreditCode[creditCode];
    }

    /// @inheritdoc IMemberRegistry
    function organisationCount() external view returns (uint32) {
        return _organisationCount;
    }

    function _admit(bytes32 creditCode, string memory name, uint16 roles, address payoutAccount)
        private
        returns (uint32 orgId)
    {
        if (creditCode == bytes32(0) || payoutAccount == address(0)) revert MemberRegistryInvalidInput();
        _checkRoles(roles);
        uint32 existing = _orgIdByCreditCode[creditCode];
        if (existing != 0) revert MemberRegistryCreditCodeTaken(creditCode, existing);

        orgId = ++_organisationCount;
        Organisation storage org = _organisations[orgId];
        org.creditCode = creditCode;
        org.roles = roles;
        org.payoutAccount = payoutAccount;
        _orgIdByCreditCode[creditCode] = orgId;
        emit OrganisationAdmitted(orgId, creditCode, roles, payoutAccount, name);
        _addAccount(orgId, org, payoutAccount);
    }

    function _addAccount(uint32 orgId, Organisation storage org, address account) private {
        if (account == address(0)) revert MemberRegistryInvalidInput();
        uint32 taken = _accounts[account].orgId;
        if (taken != 0) revert MemberRegistryAccountTaken(account, taken);
        if (org.accountCount >= MAX_ACCOUNTS_PER_ORG) revert MemberRegistryTooManyAccounts(orgId);

        org.accountCount += 1;
        _orgAccounts[orgId].push(account);
        _accounts[account] = Account({orgId: orgId, orgRoles: org.roles, orgSuspended: org.suspended, suspended: false});
        emit AccountAdded(orgId, account);
    }

    function _syncAccounts(uint32 orgId, uint16 roles, bool suspended) private {
        address[] storage accounts = _orgAccounts[orgId];
        uint256 count = accounts.length;
        for (uint256 i = 0; i < count; ++i) {
            Account storage a = _accounts[accounts[i]];
            a.orgRoles = roles;
            a.orgSuspended = suspended;
        }
    }

    function _organisation(uint32 orgId) private view returns (Organisation storage org) {
        org = _organisations[orgId];
        if (org.payoutAccount == address(0)) revert MemberRegistryUnknownOrganisation(orgId);
    }

    function _accountOrg(address account) private view returns (uint32 orgId) {
        orgId = _accounts[account].orgId;
        if (orgId == 0) revert MemberRegistryUnknownAccount(account);
    }

    function _checkOperator() private view {
        Account memory a = _accounts[msg.sender];
        if (a.orgId == 0 || a.suspended || a.orgSuspended || a.orgRoles & Roles.OPERATOR == 0) {
            revert MemberRegistryUnauthorized(msg.sender, Roles.OPERATOR);
        }
    }

    function _checkRoles(uint16 roles) private pure {
        if (roles == 0 || roles & ~Roles.ALL != 0) revert MemberRegistryInvalidRoles(roles);
    }
}
