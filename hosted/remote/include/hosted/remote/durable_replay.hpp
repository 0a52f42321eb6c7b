// durable_sequence_store: the replay state of a serving side (remote node, HTTP exporter) that
// survives a restart, kill -9 included, without an fsync per request. Hosted port only (a file).
//
// What must survive is not every holder's number but a bound above all of them: after a restart
// every holder starts at the floor, and a floor at or above every number accepted before refuses
// every request captured before. So the store keeps the in-memory table of bounded_sequence_store
// and persists one high-water mark, *reserved ahead*: before it accepts a number above the
// reservation, it writes reservation = number + block durably and atomically (a new file opened
// O_CREAT|O_EXCL|O_NOFOLLOW beside the mark, written, fsync'ed, renamed over the mark, directory
// fsync'ed). With time-based numbers (µs, remote::node::next_sequence) and a block of one second
// that is at most about one write per second however many requests arrive. On open, floor =
// max(reservation, now - skew). Destroying the store (a clean stop) writes the exact largest
// number accepted instead, so that callers are not refused after an orderly restart.
//
// Numbers more than `max_ahead` above the clock are refused (sequence_unavailable): one holder
// could otherwise push the reservation, hence every caller's floor after a restart, to the end of
// the number space. A write that fails refuses the request (fail closed). Not synchronised: one
// loop thread. docs/remote.md, "Replay".
#pragma once

#include <remote/replay.hpp>

#include <base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace amb::hosted::remote {

struct durable_replay_settings {
    std::size_t max_roots = 64;
    std::size_t holders_per_root = amb::remote::bounded_sequence_store::default_holders_per_root;
    /// Reserved ahead per write, in sequence units (µs): bounds writes to one per `block`.
    std::uint64_t block = 1'000'000;
    /// The farthest above the clock (µs) a number may be.
    std::uint64_t max_ahead = 600'000'000;
    /// The floor is at least the start time minus this (µs): numbers older than the skew the
    /// node tolerates are refused even without a mark (first start, or the mark was removed).
    std::uint64_t skew = 60'000'000;
};

class durable_sequence_store final : public caplets::sequence_store {
public:
    /// Opens the mark at `path` (absent: starts from `now_microseconds - skew` alone). Errors (a
    /// sentence): the directory cannot be opened, the mark is unreadable or corrupt (refused
    /// rather than guessed: remove it knowingly to start over), no memory.
    static result<std::unique_ptr<durable_sequence_store>, std::string>
    open(const std::string& path, std::uint64_t now_microseconds,
         const durable_replay_settings& settings = {});
    ~durable_sequence_store() override;

    std::uint64_t last_accepted(const caplets::sequence_key& key) override;
    bool accept(const caplets::sequence_key& key, std::uint64_t number, std::uint64_t expires,
                std::uint64_t now) override;

    /// The persisted reservation, the floor this start began from, the durable writes so far.
    std::uint64_t reserved() const { return reserved_; }
    std::uint64_t floor() const { return table_.floor(); }
    std::size_t writes() const { return writes_; }
    const amb::remote::bounded_sequence_store& table() const { return table_; }

    /// Reads the mark at `path` (0 when absent). For tests and tools.
    static result<std::uint64_t, std::string> read_mark(const std::string& path);

private:
    durable_sequence_store(std::string path, int directory, const durable_replay_settings& settings,
                           std::uint64_t floor, std::uint64_t reserved);
    bool write_mark(std::uint64_t value);

    std::string path_;
    int directory_;
    durable_replay_settings settings_;
    amb::remote::bounded_sequence_store table_;
    std::uint64_t reserved_;
    std::uint64_t highest_ = 0; // the largest number accepted since open
    std::size_t writes_ = 0;
};

} // namespace amb::hosted::remote
