#include <remote/replay.hpp>

#include <new>

namespace amb::remote {

bounded_sequence_store::bounded_sequence_store(std::size_t max_roots, std::uint64_t floor,
                                               std::size_t holders_per_root)
    : max_roots_(max_roots),
      roots_(new (std::nothrow) caplets::sequence_table::root_entry[max_roots]()),
      holders_(new (std::nothrow)
                   caplets::sequence_table::holder_entry[max_roots * holders_per_root]()) {
    if (roots_ && holders_)
        table_.emplace(std::span(roots_.get(), max_roots),
                       std::span(holders_.get(), max_roots * holders_per_root), holders_per_root,
                       floor);
}

std::uint64_t bounded_sequence_store::last_accepted(const caplets::sequence_key& key) {
    // No table (the allocation failed): every number is refused, never accepted twice.
    return table_ ? table_->last(key) : ~std::uint64_t{0};
}

bool bounded_sequence_store::accept(const caplets::sequence_key& key, std::uint64_t number,
                                    std::uint64_t expires, std::uint64_t now) {
    return table_ && table_->record(key, number, expires, now);
}

} // namespace amb::remote
