// Replay protection state of a serving node: the last sequence number accepted per caller
// (caplets::sequence_store keyed by the credential's root, the frame-0 tag no derivation changes,
// and by holder, the frame before the request), for a fixed number of callers, failing closed.
//
// A deployment knows how many nodes may call a node (one credential per importing node), so the
// store is sized for them at start-up (`max_roots`) and never drops a live entry: when it is
// full, a request from one more root is refused (`sequence_unavailable`) rather than letting an
// evicted holder's old requests be replayed. Each root has at most `holders_per_root` holders, so
// a caller that derives narrower credentials fills only its own share and locks out only itself.
// `floor` is the number every holder starts from: a node sets it to what it persisted before a
// restart (durable_sequence_store on the hosted port) or at least to its start time minus the
// clock skew it tolerates (docs/remote.md, "Replay"). Not synchronised: one loop thread.
#pragma once

#include <caplets/caplets.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace amb::remote {

class bounded_sequence_store final : public caplets::sequence_store {
public:
    static constexpr std::size_t default_holders_per_root = 4;

    /// `max_roots` callers with `holders_per_root` holders each (allocated here, once; check
    /// capacity() for the allocation); `floor` as above.
    explicit bounded_sequence_store(std::size_t max_roots, std::uint64_t floor = 0,
                                    std::size_t holders_per_root = default_holders_per_root);

    std::uint64_t last_accepted(const caplets::sequence_key& key) override;
    bool accept(const caplets::sequence_key& key, std::uint64_t number, std::uint64_t expires,
                std::uint64_t now) override;

    /// Holders (entries) in use, roots in use, the most roots.
    std::size_t size() const { return table_ ? table_->size() : 0; }
    std::size_t roots() const { return table_ ? table_->roots() : 0; }
    std::size_t capacity() const { return table_ ? max_roots_ : 0; }
    std::uint64_t floor() const { return table_ ? table_->floor() : 0; }
    void raise_floor(std::uint64_t floor) {
        if (table_)
            table_->raise_floor(floor);
    }

private:
    std::size_t max_roots_;
    std::unique_ptr<caplets::sequence_table::root_entry[]> roots_;
    std::unique_ptr<caplets::sequence_table::holder_entry[]> holders_;
    std::optional<caplets::sequence_table> table_;
};

} // namespace amb::remote
