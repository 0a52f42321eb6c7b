#include <remote/replay.hpp>

#include <cstring>
#include <new>

namespace amb::remote {

bounded_sequence_store::bounded_sequence_store(std::size_t capacity, std::uint64_t floor)
    : entries_(new (std::nothrow) entry[capacity]()), capacity_(entries_ ? capacity : 0),
      floor_(floor) {}

bounded_sequence_store::entry* bounded_sequence_store::find(const caplets::tag_bytes& holder) {
    // Tags are public (they are in the requests), so comparing them need not be constant time.
    for (std::size_t i = 0; i < count_; ++i)
        if (std::memcmp(entries_[i].holder.data(), holder.data(), holder.size()) == 0)
            return &entries_[i];
    return nullptr;
}

std::uint64_t bounded_sequence_store::last(const caplets::tag_bytes& holder) {
    const entry* known = find(holder);
    return known != nullptr && known->number > floor_ ? known->number : floor_;
}

bool bounded_sequence_store::record(const caplets::tag_bytes& holder, std::uint64_t number) {
    if (entry* known = find(holder)) {
        known->number = number;
        return true;
    }
    if (count_ == capacity_)
        return false; // full: refuse rather than forget someone (see the header)
    entries_[count_++] = entry{holder, number};
    return true;
}

} // namespace amb::remote
