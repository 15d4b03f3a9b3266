// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Discount arithmetic for financing receivables (ACT/360, China Standard Time days)
/// @notice discount = face x annual rate x days / 360, rounded half up to the minor unit (fen).
/// Days are whole calendar days in UTC+8 from the funding date to the due date: a piece funded
/// at 23:59 on 1 March and due at 00:00 on 2 March has one discount day.
library DiscountMath {
    /// @notice Rates are annual, in parts per million: 4.5 % is 45_000, 2.8512 % is 28_512.
    uint256 internal constant RATE_SCALE = 1_000_000;
    /// @notice ACT/360: the year basis of the Chinese bill and receivable market.
    uint256 internal constant YEAR_BASIS_DAYS = 360;
    /// @notice Calendar days are counted in China Standard Time (UTC+8).
    uint256 internal constant DAY_BOUNDARY_OFFSET = 8 hours;

    /// @notice The calendar day (UTC+8) that timestamp `at` falls on, counted from 1970-01-01.
    function dayOf(uint256 at) internal pure returns (uint256) {
        return (at + DAY_BOUNDARY_OFFSET) / 1 days;
    }

    /// @notice Whole calendar days from `fundedAt` to `dueAt`; 0 when `dueAt` is on or before the funding day.
    function discountDays(uint256 fundedAt, uint256 dueAt) internal pure returns (uint256) {
        uint256 from = dayOf(fundedAt);
        uint256 to = dayOf(dueAt);
        return to > from ? to - from : 0;
    }

    /// @notice The discount on `amountMinor` at `ratePpm` a year for `days`, half up to the minor unit.
    /// @dev amount < 2^96, rate < 2^32, days < 2^32: the product stays far below 2^256.
    function discount(uint256 amountMinor, uint256 ratePpm, uint256 days_) internal pure returns (uint256) {
        uint256 denominator = YEAR_BASIS_DAYS * RATE_SCALE;
        return (amountMinor * ratePpm * days_ + denominator / 2) / denominator;
    }
}
