// Bounded in-memory verification state: the revocation list and the sequence table.
#include <caplets/caplets.hpp>

#include <algorithm>

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

sequence_table::sequence_table(std::span<root_entry> roots, std::span<holder_entry> holders,
                               std::size_t holders_per_root, std::uint64_t floor)
    : roots_(roots),
      holders_(holders),
      holders_per_root_(roots.empty() ? 0
                                      : std::min(holders_per_root, holders.size() / roots.size())),
      floor_(floor) {
    clear();
}

void sequence_table::clear() {
    roots_high_ = 0;
    for (root_entry& r : roots_) {
        amb::crypto::secure_zero(r.root);
        r.holders = 0;
    }
    for (holder_entry& h : holders_) {
        amb::crypto::secure_zero(h.holder);
        h.used = false;
        h.number = h.expires = 0;
    }
}

// Root r's holders sit in holders_[r * holders_per_root_, (r + 1) * holders_per_root_): a lookup
// compares the roots in use, then the few holders of one root. Tags are secrets (a holder's tag
// is its bearer token's): compared in constant time. A scan stops at the match, which tells only
// where an entry sits, not what it holds.
sequence_table::holder_entry* sequence_table::find(const sequence_key& key,
                                                   std::size_t& root_index) const {
    root_index = roots_.size();
    for (std::size_t i = 0; i < roots_high_ && root_index == roots_.size(); ++i)
        if (roots_[i].holders != 0 && amb::crypto::constant_time_equal(roots_[i].root, key.root))
            root_index = i;
    if (root_index == roots_.size())
        return nullptr;
    for (holder_entry& h : of_root(root_index))
        if (h.used && amb::crypto::constant_time_equal(h.holder, key.holder))
            return &h;
    return nullptr;
}

std::span<sequence_table::holder_entry> sequence_table::of_root(std::size_t root_index) const {
    return holders_.subspan(root_index * holders_per_root_, holders_per_root_);
}

std::uint64_t sequence_table::last(const sequence_key& key) const {
    std::size_t root_index = 0;
    const holder_entry* known = find(key, root_index);
    return known != nullptr && known->number > floor_ ? known->number : floor_;
}

// An entry whose tokens have all expired guards nothing: any request it could refuse is refused
// as expired. Freeing it loses nothing.
void sequence_table::drop_dead(std::size_t root_index, std::uint64_t now) {
    for (holder_entry& h : of_root(root_index)) {
        if (!h.used || h.expires == 0 || h.expires > now)
            continue;
        --roots_[root_index].holders;
        amb::crypto::secure_zero(h.holder);
        h.used = false;
    }
}

bool sequence_table::record(const sequence_key& key, std::uint64_t number, std::uint64_t expires,
                            std::uint64_t now) {
    std::size_t root_index = 0;
    holder_entry* known = find(key, root_index);
    if (known != nullptr) {
        if (number > known->number)
            known->number = number;
        // Lives as long as the longest-lived token it guards (0: one never expires).
        if (known->expires != 0 && (expires == 0 || expires > known->expires))
            known->expires = expires;
        return true;
    }
    if (root_index == roots_.size()) {
        // A new root: a free slot, or one whose holders' tokens have all expired.
        for (std::size_t i = 0; i < roots_.size() && root_index == roots_.size(); ++i) {
            if (roots_[i].holders != 0)
                drop_dead(i, now);
            if (roots_[i].holders == 0)
                root_index = i;
        }
        if (root_index == roots_.size())
            return false;  // every root slot guards live tokens: refuse a new root
        roots_[root_index].root = key.root;
        roots_high_ = std::max(roots_high_, root_index + 1);
    } else {
        drop_dead(root_index, now);
    }
    for (holder_entry& h : of_root(root_index)) {
        if (h.used)
            continue;
        ++roots_[root_index].holders;
        h = holder_entry{key.holder, number, expires, true};
        return true;
    }
    // This root's holders are all live: refuse (only this root is affected).
    return false;
}

std::size_t sequence_table::size() const {
    std::size_t count = 0;
    for (const holder_entry& h : holders_)
        count += h.used ? 1 : 0;
    return count;
}

std::size_t sequence_table::roots() const {
    std::size_t count = 0;
    for (const root_entry& r : roots_)
        count += r.holders != 0 ? 1 : 0;
    return count;
}

}  // namespace caplets
