// The derivation check verification runs on each link of a chain (private to caplets/src).
//
// check_derivation() knows nothing of the parent frame, so it checks every path of the child in
// full. Verification knows more: by the time it checks link i, frame i-1's paths have passed
// (frame 0's before the first link, every later frame's as the child of the link before, a
// verified prefix's when it was remembered). A child path below a normalised parent prefix is
// then normalised exactly when its remainder after that prefix is, which is all this checks: a
// chain that narrows /home/alice/photos to /home/alice/photos/2025 scans "/2025", not the whole
// path again.
#pragma once

#include <caplets/caplets.hpp>

namespace caplets::detail {

/// check_derivation(parent, child, rule), with the same outcome and reason for any frames whose
/// parent's paths are all normalised, which the caller guarantees with
/// `parent_paths_normalised` (false: every child path is checked in full, as check_derivation
/// does).
amb::result<void, reason> check_link(const frame& parent, const frame& child, extension_rule rule,
                                     bool parent_paths_normalised);

}  // namespace caplets::detail
