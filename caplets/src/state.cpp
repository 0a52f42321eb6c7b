// Bounded in-memory verification state: the revocation list and a sequence store.
#include <caplets/caplets.hpp>

namespace caplets {

bool revocation_list::contains(const tag_bytes& tag) const {
    for (std::size_t i = 0; i < count_; ++i)
        if (amb::crypto::constant_time_equal(entries_[i].tag, tag))
            return true;
    return false;
}

void revocation_list::prune(std::uint64_t now) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < count_; ++i)
        if (entries_[i].expires == 0 || entries_[i].expires > now)
            entries_[kept++] = entries_[i];
    count_ = kept;
}

bool revocation_list::add(const tag_bytes& tag, std::uint64_t expires, std::uint64_t now) {
    if (contains(tag))
        return true;
    if (count_ == capacity)
        prune(now);
    if (count_ == capacity)
        return false;
    entries_[count_++] = entry{tag, expires};
    return true;
}

std::uint64_t memory_sequence_store::last(const tag_bytes& holder) {
    for (std::size_t i = 0; i < count_; ++i)
        if (entries_[i].holder == holder)
            return entries_[i].number;
    return 0;
}

bool memory_sequence_store::record(const tag_bytes& holder, std::uint64_t number) {
    ++clock_;
    for (std::size_t i = 0; i < count_; ++i) {
        if (entries_[i].holder == holder) {
            entries_[i].number = number;
            entries_[i].used = clock_;
            return true;
        }
    }
    std::size_t slot = count_;
    if (count_ == capacity) {
        slot = 0;
        for (std::size_t i = 1; i < count_; ++i)
            if (entries_[i].used < entries_[slot].used)
                slot = i;
    } else {
        ++count_;
    }
    entries_[slot] = entry{holder, number, clock_};
    return true;
}

}  // namespace caplets
