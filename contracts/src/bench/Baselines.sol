// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

// Plain OpenZeppelin 5 tokens, compiled with the suite's settings, as gas yardsticks for
// `scf bench gas`. Unrestricted mint on purpose: only the token bookkeeping is measured.
// Not deployed outside benchmarks.

/// @title ERC-721 yardstick
contract BaselineERC721 is ERC721("Baseline721", "B721") {
    /// @notice Mint `tokenId` to `to`.
    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}

/// @title ERC-1155 yardstick
contract BaselineERC1155 is ERC1155("") {
    /// @notice Mint `amount` of `id` to `to` (no receiver hook: `to` is an account).
    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }
}

/// @title ERC-20 yardstick
contract BaselineERC20 is ERC20("Baseline20", "B20") {
    /// @notice Mint `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
