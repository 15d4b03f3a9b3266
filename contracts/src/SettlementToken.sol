// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMemberRegistry, Roles} from "./interfaces/IMemberRegistry.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";

/// @title Settlement token of the scfnet consortium
/// @notice See {ISettlementToken}.
contract SettlementToken is ERC20, ISettlementToken {
    IMemberRegistry private immutable _registry;

    constructor(IMemberRegistry registry_, string memory name_, string memory symbol_) ERC20(name_, symbol_) {
        _registry = registry_;
    }

    /// @notice Minor units: 2 decimals, fen for CNY.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @notice The member registry this token asks.
    function registry() external view returns (IMemberRegistry) {
        return _registry;
    }

    /// @inheritdoc ISettlementToken
    function mint(address to, uint256 amount) external {
        uint32 bankOrg = _checkBank();
        _mint(to, amount);
        emit DepositMinted(bankOrg, to, amount);
    }

    /// @inheritdoc ISettlementToken
    function burn(uint256 amount) external {
        uint32 bankOrg = _checkBank();
        _burn(msg.sender, amount);
        emit DepositBurned(bankOrg, msg.sender, amount);
    }

    /// @inheritdoc ISettlementToken
    function burnFrom(address from, uint256 amount) external {
        uint32 bankOrg = _checkBank();
        _spendAllowance(from, msg.sender, amount);
        _burn(from, amount);
        emit DepositBurned(bankOrg, from, amount);
    }

    /// @notice Move `value` from `from` using the caller's allowance. The spender must be an active
    /// member's account, or a contract (the receivables' delivery versus payment): a suspended or
    /// removed key cannot spend allowances it was given.
    function transferFrom(address from, address to, uint256 value) public override(ERC20, IERC20) returns (bool) {
        (uint32 orgId, uint16 roles) = _registry.memberOf(msg.sender);
        if (orgId == 0 ? msg.sender.code.length == 0 : roles == 0) revert SettlementInactiveSender(msg.sender);
        return super.transferFrom(from, to, value);
    }

    /// @dev Every movement is between consortium accounts: the sender must be able to act now,
    /// the recipient must be admitted (a suspended member can still be paid what it is owed).
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0)) {
            (, uint16 roles) = _registry.memberOf(from);
            if (roles == 0) revert SettlementInactiveSender(from);
        }
        if (to != address(0)) {
            (uint32 orgId,) = _registry.memberOf(to);
            if (orgId == 0) revert SettlementUnknownRecipient(to);
        }
        super._update(from, to, value);
    }

    function _checkBank() private view returns (uint32 orgId) {
        uint16 roles;
        (orgId, roles) = _registry.memberOf(msg.sender);
        if (roles & Roles.BANK == 0) revert SettlementUnauthorized(msg.sender, Roles.BANK);
    }
}
