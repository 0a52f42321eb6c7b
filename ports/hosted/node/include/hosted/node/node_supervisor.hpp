// The node supervisor of the hosted port (DESIGN.md §8, docs/hosted.md): starts each group as a
// child process, watches it and stops it.
//
// `start_group` creates the group's channel before forking: a shared_region holding a ring
// region (initialised here) and two eventfds (requests, replies). The child closes every other
// group's descriptors and mappings, maps its region again from the memfd number (as it will have
// to once groups are exec'd), restores the default signal dispositions and mask, asks the
// kernel to kill it if the supervisor dies (PR_SET_PDEATHSIG), and runs `main(link)`; its
// return value is the exit status. The parent gets a `group_process` whose `caller_link()`
// feeds a `message_caller`; the link's `peer_exit` is a pidfd, so a caller waiting on a group
// that dies fails instead of hanging.
//
//     node_supervisor supervisor;
//     auto group = supervisor.start_group(config, [](const message_link& link) { ... serve ... });
//     auto caller = message_caller::attach((*group)->caller_link());
//
// `stop` (also run by the destructor) sends SIGTERM, waits up to the stop timeout, then sends
// SIGKILL, reaps the child and closes the group's memfd and eventfds. `watch_stop_signals`
// turns SIGTERM and SIGINT sent to the supervisor into a `wait` result (through a signalfd)
// instead of killing it. Errors are errno values. Single-threaded: call everything from the
// thread that created the supervisor (the signal mask it changes is that thread's).
#pragma once

#include <hosted/node/message_channel.hpp>
#include <hosted/node/shared_region.hpp>

#include <rings/ring.hpp>

#include <chrono>
#include <memory>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace amb::hosted::node {

/// One group process as the supervisor sees it. Owned by the supervisor.
class group_process {
public:
    pid_t pid() const { return pid_; }
    /// The group's memfd (-1 once stopped).
    int memfd() const { return region_.fd(); }
    /// The caller's side of the channel; valid until the group is stopped.
    message_link caller_link() const {
        return {region_.bytes(), request_event_.get(), reply_event_.get(), pidfd_.get()};
    }
    /// True once the process has exited (whether or not it was reaped yet).
    bool exited() const;
    /// The wait status once reaped by `stop` (see waitpid), else -1.
    int wait_status() const { return wait_status_; }

private:
    friend class node_supervisor;
    void close_after_fork() noexcept;

    pid_t pid_ = -1;
    unique_fd pidfd_;
    shared_region region_;
    std::size_t region_size_ = 0;
    unique_fd request_event_;
    unique_fd reply_event_;
    int wait_status_ = -1;
    bool reaped_ = false;
};

class node_supervisor {
public:
    explicit node_supervisor(std::chrono::milliseconds stop_timeout = std::chrono::seconds(2))
        : stop_timeout_(stop_timeout) {}
    node_supervisor(const node_supervisor&) = delete;
    node_supervisor& operator=(const node_supervisor&) = delete;
    /// Stops every group and restores the signal mask changed by watch_stop_signals.
    ~node_supervisor();

    /// Starts a group process running `main(const message_link&) -> int` over a new ring
    /// region configured by `ring`. The returned group lives as long as the supervisor.
    template <class Main>
    result<group_process*, int> start_group(const rings::config& ring, Main&& main) {
        auto prepared = prepare_group(ring);
        if (!prepared)
            return failure{prepared.error()};
        group_process& group = **prepared;
        auto forked = fork_group(group);
        if (!forked)
            return failure{forked.error()};
        if (*forked)
            return &group;
        // The child: never returns into the caller's stack.
        auto link = enter_child(group);
        ::_exit(link ? static_cast<int>(main(link->link)) : 127);
    }

    /// Blocks SIGTERM and SIGINT in this thread and receives them through a signalfd, so that
    /// `wait` reports them. Error: errno.
    result<void, int> watch_stop_signals();

    enum class wake_reason { stop_signal, group_exited, timed_out };
    /// Sleeps until a watched stop signal arrives, a running group exits, or `timeout` passes
    /// (negative: no timeout). A group that has exited keeps waking it until it is stopped
    /// (reaped); check `group_process::exited`. Error: errno of poll().
    result<wake_reason, int> wait(std::chrono::milliseconds timeout);

    /// Stops one group (SIGTERM, then SIGKILL after the stop timeout), reaps it and closes its
    /// channel. Does nothing for a group already stopped.
    void stop(group_process& group);
    /// Stops every group.
    void stop();

    /// Groups started and not stopped yet.
    std::size_t running() const;

private:
    // What the child keeps: its own mapping of the region and its link.
    struct child_side {
        shared_region region;
        message_link link;
    };

    result<group_process*, int> prepare_group(const rings::config& ring);
    // true in the parent, false in the child.
    result<bool, int> fork_group(group_process& group);
    result<child_side, int> enter_child(group_process& group);

    std::chrono::milliseconds stop_timeout_;
    std::vector<std::unique_ptr<group_process>> groups_;
    unique_fd signals_;
    sigset_t saved_mask_{};
    pid_t supervisor_pid_ = ::getpid();
};

}  // namespace amb::hosted::node
