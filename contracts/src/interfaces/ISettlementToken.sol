// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Settlement token: tokenized bank deposits in the network's currency
/// @notice Amounts are in minor units (fen for CNY: `decimals()` is 2). Only member banks mint
/// (a client's deposit) and burn (a redemption); only active members send, and only to admitted
/// accounts, so value never leaves the consortium.
interface ISettlementToken is IERC20 {
    /// @notice The caller lacks an active account with `requiredRole`.
    error SettlementUnauthorized(address account, uint16 requiredRole);
    /// @notice `account` may not send: it is unknown or suspended.
    error SettlementInactiveSender(address account);
    /// @notice `account` is not an account of any admitted organisation.
    error SettlementUnknownRecipient(address account);

    /// @notice Emitted when bank organisation `bankOrg` mints `amount` to `to`.
    event DepositMinted(uint32 indexed bankOrg, address indexed to, uint256 amount);
    /// @notice Emitted when bank organisation `bankOrg` burns `amount` held by `from`.
    event DepositBurned(uint32 indexed bankOrg, address indexed from, uint256 amount);

    /// @notice Mint `amount` to member account `to` against a deposit at the calling bank.
    function mint(address to, uint256 amount) external;

    /// @notice Burn `amount` of the calling bank's own balance.
    function burn(uint256 amount) external;

    /// @notice Burn `amount` from `from` (a redemption), using `from`'s allowance to the bank.
    function burnFrom(address from, uint256 amount) external;
}
