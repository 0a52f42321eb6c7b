// Replay protection state of a serving node: the last sequence number accepted per holder
// (caplets::sequence_store, keyed by the tag of the caller's credential), for a fixed number of
// callers, failing closed.
//
// A deployment knows how many nodes may call a node (one credential per importing node), so the
// store is sized for them at start-up and never evicts: when it is full, a request from one more
// holder is refused (`sequence_unavailable`) rather than letting an evicted holder's old requests
// be replayed, which is what an evicting store would allow. `floor` is the number every holder
// starts from: a node that sets it to its start time (in the microseconds callers use for
// sequence numbers) refuses every request recorded before a restart even though this state is
// not persisted (docs/remote.md, "Replay"). Not synchronised: one loop thread.
#pragma once

#include <caplets/caplets.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace amb::remote {

class bounded_sequence_store final : public caplets::sequence_store {
public:
    /// `capacity` holders (allocated here, once); `floor` as above.
    explicit bounded_sequence_store(std::size_t capacity, std::uint64_t floor = 0);

    std::uint64_t last(const caplets::tag_bytes& holder) override;
    bool record(const caplets::tag_bytes& holder, std::uint64_t number) override;

    std::size_t size() const { return count_; }
    std::size_t capacity() const { return capacity_; }
    std::uint64_t floor() const { return floor_; }

private:
    struct entry {
        caplets::tag_bytes holder;
        std::uint64_t number;
    };
    entry* find(const caplets::tag_bytes& holder);

    std::unique_ptr<entry[]> entries_;
    std::size_t capacity_;
    std::size_t count_ = 0;
    std::uint64_t floor_;
};

} // namespace amb::remote
